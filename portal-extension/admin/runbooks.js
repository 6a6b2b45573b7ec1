// The provider's runbooks: each bundled runbook with its schedule, whether it is on, its last and
// next tick and its last runs; turning one on or off, changing its schedule, and starting it now
// with parameters. Last runs are the jobs of the runbook's workflow (the jobs API filters by
// workflow, not by runbook name).

import { query } from '../shared/api.js';
import { button, field, h, notice, poll, replace, rerender } from '../shared/dom.js';
import { badge, shortId, table, timeEl } from '../shared/format.js';
import { jobTable } from '../shared/jobs.js';

function lastRuns(jobs) {
  if (!jobs.length) return 'none yet';
  return h('ul', { class: 'runs' }, jobs.map((j) => h('li', {}, h('a', { href: `#/jobs/${j.Id}` }, shortId(j.Id)), ' ', badge(j.State), ' ', timeEl(j.CreatedAt))));
}

/** `#/runbooks`: every runbook with its last runs, refreshed every 10 s. */
export async function runbooksView(main, api, signal) {
  const holder = h('div');
  const status = h('div', { class: 'form-status' });
  replace(main, h('h2', {}, 'Runbooks'), status, holder);
  await poll(async () => {
    const runbooks = await api.get('/runbooks');
    const runs = await Promise.all(runbooks.map((r) => api.get(`/jobs${query({ workflow: r.Workflow, limit: 3 })}`).catch(() => [])));
    rerender(holder, () => table('Runbooks', ['Runbook', 'State', 'Schedule', 'Last tick', 'Next tick', 'Last runs', 'Change'], runbooks.map((r, i) => [
      h('a', { href: `#/runbooks/${encodeURIComponent(r.Name)}` }, r.Name),
      r.Available ? badge(r.Enabled ? 'Enabled' : 'Disabled') : h('span', {}, badge('Unavailable'), ` ${r.UnavailableReason || ''}`),
      r.Schedule || (r.Events?.length ? `on ${r.Events.join(', ')}` : 'on demand'),
      timeEl(r.LastTick), timeEl(r.NextTick), lastRuns(runs[i]),
      button(r.Enabled ? `Disable ${r.Name}` : `Enable ${r.Name}`, async () => {
        try { await api.put(`/runbooks/${encodeURIComponent(r.Name)}`, { enabled: !r.Enabled, schedule: r.Schedule }); } catch (err) { replace(status, notice(err.message)); }
      }, { class: 'small' }),
    ]), 'No runbooks are loaded.'));
    return false;
  }, 10000, signal);
}

/** `#/runbooks/{name}`: one runbook: schedule, start with parameters, its workflow's last runs. */
export async function runbookView(main, api, name) {
  const r = await api.get(`/runbooks/${encodeURIComponent(name)}`);
  const enabled = h('input', { type: 'checkbox', id: 'rb-enabled', checked: r.Enabled });
  const schedule = h('input', { type: 'text', value: r.Schedule || '', autocomplete: 'off' });
  const status = h('div', { class: 'form-status' });
  const form = h('form', { 'aria-labelledby': 'rb-settings' },
    h('h3', { id: 'rb-settings' }, 'Schedule'),
    h('div', { class: 'field check' }, enabled, h('label', { for: 'rb-enabled' }, 'Enabled')),
    field('Schedule (cron, empty for none)', schedule, 'For example */15 * * * * for every 15 minutes.'),
    h('button', { type: 'submit' }, 'Save'), status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await api.put(`/runbooks/${encodeURIComponent(name)}`, { enabled: enabled.checked, schedule: schedule.value.trim() || null });
      replace(status, notice('Saved.', 'ok'));
    } catch (err) { replace(status, notice(err.message)); }
  });
  const params = h('textarea', { rows: '4' });
  params.value = '{}';
  const startStatus = h('div', { class: 'form-status' });
  const start = h('form', { 'aria-labelledby': 'rb-start' },
    h('h3', { id: 'rb-start' }, 'Start now'),
    field('Parameters (JSON object)', params, `Defaults: ${r.Parameters}`),
    h('button', { type: 'submit', class: 'primary' }, `Start ${r.Name}`), startStatus);
  start.addEventListener('submit', async (event) => {
    event.preventDefault();
    let parameters;
    try { parameters = JSON.parse(params.value || '{}'); } catch { replace(startStatus, notice('The parameters are not valid JSON.')); return; }
    try {
      const job = await api.post(`/runbooks/${encodeURIComponent(name)}/start`, { parameters });
      location.hash = `#/jobs/${job.Id || job.JobId}`;
    } catch (err) { replace(startStatus, notice(err.message)); }
  });
  const jobs = await api.get(`/jobs${query({ workflow: r.Workflow, limit: 10 })}`);
  replace(main, h('p', {}, h('a', { href: '#/runbooks' }, '← All runbooks')), h('h2', {}, `Runbook ${r.Name}`),
    h('p', {}, r.Description), form, start, h('h3', {}, 'Last runs'), jobTable(jobs));
}
