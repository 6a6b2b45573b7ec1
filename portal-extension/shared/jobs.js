// Job history and one job with live progress, for the tenant and the admin: the list (newest
// first, refreshed while a job runs) and the detail view that follows a job to its end, with the
// Acknowledge button on manual steps and, for failovers and drills, the way to its report.

import { query } from './api.js';
import { button, h, notice, poll, replace, rerender } from './dom.js';
import { badge, shortId, table, timeEl } from './format.js';
import { FINAL, watchJob } from './progress.js';

/** The table of jobs. */
export function jobTable(jobs, { showSubscription = false } = {}) {
  const headings = ['Job', 'State', 'Reason', 'Started by', 'Created', 'Finished'];
  if (showSubscription) headings.push('Subscription');
  return table('Jobs, newest first', headings, jobs.map((j) => {
    const cells = [h('a', { href: `#/jobs/${j.Id}` }, `${j.Workflow} ${shortId(j.Id)}`), badge(j.State), j.Reason || '—', j.StartedBy, timeEl(j.CreatedAt), timeEl(j.FinishedAt)];
    if (showSubscription) cells.push(j.SubscriptionId ? h('code', {}, shortId(j.SubscriptionId)) : '—');
    return cells;
  }), 'No jobs yet.');
}

/** Renders the job list into `main`, refreshing every 3 s while any job on it has not ended. */
export async function jobsView(main, api, signal, { filters = {}, controls = null, showSubscription = false } = {}) {
  const holder = h('div', { 'aria-live': 'off' });
  replace(main, h('h2', {}, 'Jobs'), controls, holder);
  await poll(async () => {
    const jobs = await api.get(`/jobs${query({ limit: 50, ...filters })}`);
    rerender(holder, () => jobTable(jobs, { showSubscription }));
    return jobs.every((j) => FINAL.includes(j.State));
  }, 3000, signal);
}

/**
 * Renders job `id` into `main` and follows it live. `ackBody(comment)` is the acknowledgement's
 * body (the tenant sends a comment, the admin also who acknowledges); `cancel` adds a Cancel
 * button (admin); `extra(job)` may add elements (the site job's children).
 */
export async function jobView(main, api, id, signal, { ackBody, cancel = null, extra = null } = {}) {
  const path = `/jobs/${encodeURIComponent(id)}`;
  const live = h('div', { class: 'job-live', 'aria-busy': 'false' });
  const links = h('p', { class: 'job-links' });
  const extraBox = h('div');
  const status = h('div', { class: 'form-status' });
  replace(main, h('p', {}, h('a', { href: '#/jobs' }, '← All jobs')), h('h2', {}, `Job ${shortId(id)}`), links, status, live, extraBox);
  let shownLinks = '';
  await watchJob(live, () => api.get(path), {
    signal,
    onAck: ackBody && ((step, comment) => api.post(`${path}/steps/${step.Id}/acknowledge`, ackBody(comment))),
    onChange: (job) => {
      const key = `${job.Workflow}:${job.State}`;
      if (key !== shownLinks) {
        shownLinks = key;
        const parts = [];
        if (job.Workflow === 'failover') parts.push(h('a', { href: `#/reports/${job.Id}` }, 'Open the report'));
        if (cancel && !FINAL.includes(job.State)) {
          parts.push(' ', button('Cancel the job', async () => {
            try { await cancel(job); } catch (err) { replace(status, notice(err.message)); }
          }, { class: 'danger' }));
        }
        replace(links, parts);
      }
      if (extra) extra(job, extraBox);
    },
  });
}

