// Failover and drill reports, for the tenant and the admin alike: the list (newest first) and one
// report with its summary, recovery times, the timeline chart and the tables behind it, plus the
// self-contained HTML page wapdr builds for the audit file, fetched with the page's credentials
// and saved as a download (an iframe could not send them, and the CSP forbids the page's
// inline style anyway).

import { query } from './api.js';
import { button, h, notice, replace } from './dom.js';
import { badge, duration, facts, shortId, table, time, timeEl } from './format.js';
import { timelineChart } from './timeline.js';

const KIND_TITLES = { test: 'Drill', testCleanup: 'Drill cleanup', planned: 'Planned failover', unplanned: 'Unplanned failover', failback: 'Failback', commit: 'Commit', rollback: 'Rollback', reprotect: 'Reprotect' };

/** A report's title from its kind. */
export function reportTitle(kind) {
  return `${KIND_TITLES[kind] || kind || 'Operation'} report`;
}

/** The table of reports `list` (from `GET .../reports`); `showSubscription` adds that column. */
export function reportTable(list, { showSubscription = false } = {}) {
  const headings = ['Report', 'Result', 'Started by', 'Reason', 'Created', 'Finished'];
  if (showSubscription) headings.push('Subscription');
  return table('Reports, newest first', headings, list.map((r) => {
    const cells = [
      h('a', { href: `#/reports/${r.JobId}` }, `${reportTitle(r.Kind)} ${shortId(r.JobId)}`),
      badge(r.State), r.StartedBy, r.Reason || '—', timeEl(r.CreatedAt), timeEl(r.FinishedAt),
    ];
    if (showSubscription) cells.push(h('code', {}, shortId(r.SubscriptionId)));
    return cells;
  }), 'No reports yet: every drill and failover leaves one.');
}

/** Renders the report list view into `main`. */
export async function reportsView(main, api, { filters = {}, showSubscription = false, intro } = {}) {
  const { Reports: list } = await api.get(`/reports${query(filters)}`);
  replace(main, h('h2', {}, 'Reports'), intro || null, reportTable(list, { showSubscription }));
}

async function download(api, id) {
  const html = await api.text(`/reports/${id}/html`);
  const url = URL.createObjectURL(new Blob([html], { type: 'text/html' }));
  const link = h('a', { href: url, download: `wapdr-report-${id}.html`, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function groupTables(report) {
  return (report.Groups || []).map((group) => {
    const rows = [];
    if (group.Delay) rows.push([`Delay ${group.Delay.Seconds} s`, 'delay', badge(group.Delay.Result), time(group.Delay.StartedAt), time(group.Delay.FinishedAt), duration(group.Delay.WaitedSeconds), '—']);
    for (const a of group.Actions || []) {
      rows.push([a.Name, `${a.Kind} (${(a.When || '').toLowerCase()})`, badge(a.Result), time(a.StartedAt), time(a.FinishedAt), duration(a.Seconds),
        a.AcknowledgedBy ? `Acknowledged by ${a.AcknowledgedBy}${a.Comment ? `: ${a.Comment}` : ''}` : (a.Error || '—')]);
    }
    for (const vm of group.Vms || []) {
      rows.push([vm.Name, vm.Operation, badge(vm.Result), time(vm.StartedAt), time(vm.FinishedAt), duration(vm.Seconds), vm.Error || '—']);
    }
    return table(group.Name, ['Step', 'Kind', 'Result', 'Started', 'Finished', 'Took', 'Notes'], rows, `Group ${group.Name} ran nothing.`);
  });
}

/** Renders report `id` into `main`. */
export async function reportView(main, api, id, { backHref = '#/reports' } = {}) {
  const report = await api.get(`/reports/${encodeURIComponent(id)}`);
  const timing = report.Timing || {};
  const counts = report.VmCounts || {};
  const status = h('div', { class: 'form-status' });
  const chart = timelineChart(report);
  replace(main,
    h('p', {}, h('a', { href: backHref }, '← All reports')),
    h('h2', {}, reportTitle(report.Kind)),
    facts([
      ['Result', badge(report.State)],
      ['Recovery plan', report.Plan?.name || 'Default plan'],
      ['Direction', report.Direction || '—'],
      ['Started by', `${report.StartedBy} (${report.Trigger})`],
      ['Reason', report.Reason || '—'],
      ['Created', timeEl(report.CreatedAt)],
      ['Finished', timeEl(report.FinishedAt)],
      ['VMs', `${counts.Total ?? 0} in all: ${counts.Succeeded ?? 0} succeeded, ${counts.Failed ?? 0} failed, ${counts.Running ?? 0} running, ${counts.NotStarted ?? 0} not started`],
      ['Recovery time (RTO)', duration(timing.RtoSeconds)],
      ['RTO without manual steps and scripts', duration(timing.RtoExcludingManualAndScriptsSeconds)],
      ['Manual waits', duration(timing.ManualWaitSeconds)],
      ['Scripts and runbooks', duration(timing.ScriptSeconds)],
      ['Delays between groups', duration(timing.DelaySeconds)],
      ['Phase after', report.Phase || '—'],
    ], { class: 'facts report-summary' }),
    report.Error ? notice(report.Error) : null,
    h('p', {}, button('Download the HTML report', async (event) => {
      event.currentTarget.disabled = true;
      try {
        await download(api, report.JobId);
        replace(status, notice('The report page was saved as a download.', 'ok'));
      } catch (err) {
        replace(status, notice(err.message));
      } finally {
        event.target.disabled = false;
      }
    }), status),
    h('section', { 'aria-labelledby': 'timeline-title', class: 'timeline-section' },
      h('h3', { id: 'timeline-title' }, 'Timeline'),
      chart || h('p', { class: 'empty' }, 'Nothing has run yet.'),
      h('p', { class: 'legend' },
        h('span', { class: 'key vm' }, 'VM'), h('span', { class: 'key failed' }, 'VM failed'),
        h('span', { class: 'key delay' }, 'Delay'), h('span', { class: 'key manual' }, 'Manual step'), h('span', { class: 'key script' }, 'Script or runbook'))),
    h('section', { 'aria-labelledby': 'steps-title' }, h('h3', { id: 'steps-title' }, 'Steps by group'), groupTables(report)),
    (report.Skipped || []).length ? h('section', {}, h('h3', {}, 'Skipped'), h('ul', {}, report.Skipped.map((s) => h('li', {}, typeof s === 'string' ? s : JSON.stringify(s))))) : null);
}
