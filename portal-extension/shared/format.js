// How the portal writes values: times in the person's locale, durations and RPOs in words, and
// states as badges whose text carries the meaning (the colour only repeats it).

import { h } from './dom.js';

/** A time in the person's locale, or an em dash. */
export function time(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

/** A `<time>` element with the machine-readable value. */
export function timeEl(iso) {
  return iso ? h('time', { datetime: iso }, time(iso)) : '—';
}

/** Seconds as `1 h 2 min`, `3 min 4 s` or `5.2 s`. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(Number(seconds))) return '—';
  const s = Number(seconds);
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(s % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

// Which tone a state's badge takes.
const TONES = {
  ok: ['Protected', 'Healthy', 'Succeeded', 'Up', 'Paired', 'Enabled', 'Replicating', 'Active', 'Provisioned', 'Ok', 'true'],
  warn: ['Warning', 'Degraded', 'Waiting', 'Pending', 'Enabling', 'TestRunning', 'FailedOver', 'Committed', 'Unknown', 'Suspended', 'Excluded', 'OverQuota', 'Updating', 'Provisioning'],
  bad: ['Critical', 'Failed', 'Down', 'Unprotectable', 'Cancelled', 'Disabled', 'OutOfSync', 'false'],
  info: ['Running', 'Disabling', 'NotStarted'],
};

/** A badge for a state name: text plus a tone class. */
export function badge(state, label) {
  const text = state === null || state === undefined ? '—' : String(state);
  const tone = Object.keys(TONES).find((t) => TONES[t].includes(text)) || 'neutral';
  return h('span', { class: ['badge', tone] }, label ?? text);
}

/** `OK`/`Not OK` as a badge. */
export function okBadge(ok) {
  return h('span', { class: ['badge', ok ? 'ok' : 'bad'] }, ok ? 'OK' : 'Not OK');
}

/** A definition list from `[term, value]` pairs (values may be elements). */
export function facts(pairs, attrs = {}) {
  return h('dl', { class: 'facts', ...attrs }, pairs.map(([term, value]) => [h('dt', {}, term), h('dd', {}, value ?? '—')]));
}

/** A table with a caption, column headings and rows of cells (text or elements). */
export function table(caption, headings, rows, empty = 'Nothing to show.') {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, headings.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, c) : h('td', {}, c))))))));
}

/** The words for a failover operation. */
export const OPERATION_LABELS = {
  test: 'Run a drill',
  testCleanup: 'Clean up the drill',
  planned: 'Planned failover',
  unplanned: 'Unplanned failover',
  commit: 'Commit the failover',
  rollback: 'Roll back the failover',
  reprotect: 'Reprotect (reverse replication)',
  failback: 'Fail back',
};

/** A short id for display (the first block of a GUID). */
export function shortId(id) {
  return id ? String(id).split('-')[0] : '—';
}
