// The timeline chart of a failover or drill report, drawn as SVG from the report's JSON (Groups →
// Delay, Actions, Vms with StartedAt/FinishedAt): one row per delay, action and VM, grouped as the
// plan ran them, on a time axis from the job's creation. Bars carry their kind in a class (the
// style sheet colours them) and their times in a <title>; the report view puts the same facts in
// tables for anyone who cannot see the chart.

import { newId, svg } from './dom.js';
import { duration } from './format.js';

const WIDTH = 900;
const LABEL = 280;
const ROW = 22;
const TOP = 30;

function at(iso) {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? null : t;
}

/** The rows of the chart: `{ label, start, end, kind, heading }` in plan order. */
export function timelineRows(report) {
  const rows = [];
  for (const group of report.Groups || []) {
    rows.push({ label: group.Name, heading: true });
    const add = (label, item, kind) => {
      const start = at(item.StartedAt);
      if (start === null) return;
      rows.push({ label, start, end: at(item.FinishedAt) ?? start, kind, result: item.Result });
    };
    const first = rows.length;
    if (group.Delay) add(`Delay ${group.Delay.Seconds} s`, group.Delay, 'delay');
    for (const action of group.Actions || []) add(action.Name, action, action.Kind === 'Manual' ? 'manual' : 'script');
    for (const vm of group.Vms || []) add(`${vm.Name} (${vm.Operation})`, vm, vm.Result === 'Failed' ? 'failed' : 'vm');
    // Within a group, in the order things started: delay, actions before, VMs, actions after.
    rows.splice(first, rows.length - first, ...rows.slice(first).sort((a, b) => a.start - b.start));
  }
  return rows;
}

// An axis label precise enough to tell the ticks apart.
function tick(seconds, total) {
  if (total < 1) return `${seconds.toFixed(2)} s`;
  if (total < 60) return `${seconds.toFixed(1)} s`;
  return duration(seconds);
}

/** The chart as an `<svg>` (or null when nothing has run yet). */
export function timelineChart(report) {
  const rows = timelineRows(report);
  const bars = rows.filter((r) => !r.heading);
  const origin = at(report.CreatedAt) ?? Math.min(...bars.map((b) => b.start));
  if (!bars.length || origin === null) return null;
  const last = Math.max(...bars.map((b) => b.end));
  const total = Math.max((last - origin) / 1000, 0.001);
  const scale = (WIDTH - LABEL - 20) / total;
  const x = (t) => LABEL + ((t - origin) / 1000) * scale;
  const height = TOP + rows.length * ROW + 10;
  const titleId = newId('tl-title');
  const descId = newId('tl-desc');
  const chart = svg('svg', {
    class: 'timeline', viewBox: `0 0 ${WIDTH} ${height}`, role: 'img',
    'aria-labelledby': `${titleId} ${descId}`, preserveAspectRatio: 'xMinYMin meet',
  },
  svg('title', { id: titleId }, 'Timeline of the operation'),
  svg('desc', { id: descId }, `${bars.length} steps over ${duration(total)}, from the job's creation; the tables below list the same times.`));
  for (let i = 0; i <= 5; i += 1) {
    const seconds = (total * i) / 5;
    const tx = LABEL + seconds * scale;
    chart.append(
      svg('line', { x1: tx, x2: tx, y1: TOP - 6, y2: height - 10, class: 'tick' }),
      svg('text', { x: tx, y: TOP - 12, 'text-anchor': 'middle', class: 'axis' }, tick(seconds, total)));
  }
  rows.forEach((row, i) => {
    const y = TOP + i * ROW;
    chart.append(svg('text', { x: row.heading ? 4 : 16, y: y + ROW * 0.7, class: row.heading ? 'group-label' : 'row-label' }, row.label.length > 40 ? `${row.label.slice(0, 39)}…` : row.label));
    if (row.heading) return;
    const width = Math.max(x(row.end) - x(row.start), 2);
    chart.append(svg('rect', { x: x(row.start), y: y + 4, width, height: ROW - 8, rx: 2, class: `bar ${row.kind}` },
      svg('title', {}, `${row.label}: ${duration((row.start - origin) / 1000)} → ${duration((row.end - origin) / 1000)} (${duration((row.end - row.start) / 1000)}), ${row.result}`)));
  });
  return chart;
}
