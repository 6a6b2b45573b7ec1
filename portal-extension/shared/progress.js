// Live progress of a job: its steps read as the failover workflow writes them (kind `vm` with
// input `group`, `name`, `op`; `action` with its context's `Group` and `When`; `delay` with
// `group` and `seconds`), drawn per group and VM, with an Acknowledge button on every manual step
// that waits (state Waiting, an AckPrompt). `watchJob` polls the job until it ends, re-rendering
// in place without taking the focus away, and says what changed through the live region.

import { announce, h, newId, poll, rerender } from './dom.js';
import { badge, duration, time, timeEl } from './format.js';

/** A job's final states. */
export const FINAL = ['Succeeded', 'Failed', 'Cancelled'];

function parse(text) {
  if (text === null || text === undefined) return null;
  if (typeof text !== 'string') return text;
  try { return JSON.parse(text); } catch { return null; }
}

/** How a step ended or stands, as a report says it (a VM step may succeed with `failed`). */
export function stepResult(step) {
  const output = parse(step.Output);
  if (step.State === 'Succeeded' && output && output.failed === true) return 'Failed';
  if (step.State === 'Pending' && step.Attempts > 0) return 'Running';
  return step.State;
}

/** The job's steps grouped as the plan runs them. */
export function groupSteps(job) {
  const steps = [...(job.Steps || [])].sort((a, b) => a.Stage - b.Stage || a.Id - b.Id);
  const groups = new Map();
  const other = [];
  const groupOf = (name) => {
    if (!groups.has(name)) groups.set(name, { name, delay: null, actions: [], vms: [] });
    return groups.get(name);
  };
  for (const step of steps) {
    const input = parse(step.Input) || {};
    if (step.Kind === 'vm' && input.group) {
      groupOf(input.group).vms.push({ step, name: input.name || input.vmId, op: input.op });
    } else if (step.Kind === 'delay' && input.group) {
      groupOf(input.group).delay = { step, seconds: input.seconds };
    } else if (step.Kind === 'action' && input.context && input.context.Group) {
      groupOf(input.context.Group).actions.push({ step, when: input.context.When, kind: input.action && input.action.kind });
    } else {
      other.push(step);
    }
  }
  return { groups: [...groups.values()], other };
}

/** Counts of VM steps: total, done, failed, running, waiting for an acknowledgement. */
export function counts(job) {
  const { groups } = groupSteps(job);
  const vms = groups.flatMap((g) => g.vms.map((v) => stepResult(v.step)));
  const steps = job.Steps || [];
  return {
    total: vms.length,
    done: vms.filter((r) => r === 'Succeeded' || r === 'Failed').length,
    failed: vms.filter((r) => r === 'Failed').length,
    running: vms.filter((r) => r === 'Running').length,
    acks: steps.filter((s) => s.State === 'Waiting' && s.AckPrompt).length,
    stepsDone: steps.filter((s) => FINAL.includes(s.State)).length,
    steps: steps.length,
  };
}

/** One sentence saying where the job is. */
export function summary(job) {
  const c = counts(job);
  const parts = [`Job ${job.State.toLowerCase()}`];
  if (c.total) parts.push(`${c.done} of ${c.total} VM operations done${c.failed ? `, ${c.failed} failed` : ''}`);
  else parts.push(`${c.stepsDone} of ${c.steps} steps done`);
  if (c.acks) parts.push(`${c.acks} manual step${c.acks > 1 ? 's' : ''} waiting for acknowledgement`);
  return parts.join(' · ');
}

function groupState(group) {
  const results = [group.delay?.step, ...group.actions.map((a) => a.step), ...group.vms.map((v) => v.step)]
    .filter(Boolean).map(stepResult);
  if (results.includes('Failed')) return 'Failed';
  if (results.includes('Waiting')) return 'Waiting';
  if (results.includes('Running')) return 'Running';
  if (results.length && results.every((r) => r === 'Succeeded')) return 'Succeeded';
  if (results.every((r) => r === 'Pending')) return 'NotStarted';
  return 'Running';
}

function ackForm(job, step, onAck) {
  const commentId = `ack-comment-${step.Id}`;
  const form = h('form', { class: 'ack', 'aria-label': `Acknowledge: ${step.AckPrompt}` },
    h('p', { class: 'prompt' }, h('strong', {}, 'Waiting for you: '), step.AckPrompt),
    h('label', { for: commentId }, 'Comment (optional)'),
    h('input', { type: 'text', id: commentId, name: 'comment' }),
    h('button', { type: 'submit', class: 'primary', id: `ack-${step.Id}` }, 'Acknowledge'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const submit = form.querySelector('button');
    submit.disabled = true;
    try {
      await onAck(step, form.querySelector('input').value.trim());
      announce(`Acknowledged: ${step.AckPrompt}`);
    } catch (err) {
      submit.disabled = false;
      form.append(h('p', { class: 'notice error', role: 'alert' }, err.message));
    }
  });
  return form;
}

function stepLine(label, step, extra) {
  const result = stepResult(step);
  return h('li', { class: 'step', dataset: { state: result } },
    h('span', { class: 'step-name' }, label), ' ', badge(result),
    step.FinishedAt && step.StartedAt ? h('span', { class: 'muted' }, ` ${duration(step.DurationMs / 1000)}`) : null,
    step.Error && result !== 'Succeeded' ? h('p', { class: 'step-error' }, step.Error) : null,
    extra);
}

/** The job's progress: summary, a progress bar, then each group with its delay, actions and VMs. */
export function renderProgress(job, { onAck } = {}) {
  const { groups, other } = groupSteps(job);
  const c = counts(job);
  const barId = newId('bar');
  const wrap = h('div', { class: 'progress' },
    h('p', { class: 'summary', id: `${barId}-label` }, summary(job)),
    h('progress', { id: barId, max: String(c.total || c.steps || 1), value: String(c.total ? c.done : c.stepsDone), 'aria-labelledby': `${barId}-label` }));
  if (job.Error) wrap.append(h('p', { class: 'notice error', role: 'alert' }, job.Error));
  for (const group of groups) {
    const items = [];
    if (group.delay) items.push(stepLine(`Wait ${group.delay.seconds} s before the group`, group.delay.step));
    for (const action of group.actions.filter((a) => a.when === 'Before')) items.push(actionLine(job, action, onAck));
    for (const vm of group.vms) items.push(stepLine(`${vm.name} — ${vm.op}`, vm.step));
    for (const action of group.actions.filter((a) => a.when !== 'Before')) items.push(actionLine(job, action, onAck));
    const done = group.vms.filter((v) => ['Succeeded', 'Failed'].includes(stepResult(v.step))).length;
    wrap.append(h('section', { class: 'group', 'aria-label': `Group ${group.name}` },
      h('h4', {}, group.name, ' ', badge(groupState(group)), h('span', { class: 'muted' }, ` ${done}/${group.vms.length} VMs`)),
      h('ul', { class: 'steps' }, items)));
  }
  if (other.length) {
    const pending = other.filter((s) => s.State === 'Waiting' && s.AckPrompt);
    const list = h('ul', { class: 'steps' }, other.map((s) => stepLine(s.Name, s,
      s.State === 'Waiting' && s.AckPrompt && onAck ? ackForm(job, s, onAck) : null)));
    wrap.append(groups.length && !pending.length
      ? h('details', { class: 'other-steps' }, h('summary', {}, `Other steps (${other.length})`), list)
      : h('section', { 'aria-label': 'Steps' }, h('h4', {}, 'Steps'), list));
  }
  return wrap;
}

function actionLine(job, action, onAck) {
  const { step } = action;
  const label = `${action.when === 'Before' ? 'Before' : 'After'} the VMs: ${action.kind || 'action'} — ${step.Name}`;
  const waiting = step.State === 'Waiting' && step.AckPrompt;
  const ack = step.AcknowledgedBy ? h('p', { class: 'muted' }, `Acknowledged by ${step.AcknowledgedBy}${step.AckComment ? `: ${step.AckComment}` : ''} at ${time(step.AcknowledgedAt)}`) : null;
  return stepLine(label, step, [ack, waiting && onAck ? ackForm(job, step, onAck) : null]);
}

/** The job's heading facts: workflow, state, who started it, when, why. */
export function jobFacts(job) {
  return h('dl', { class: 'facts' },
    h('dt', {}, 'Job'), h('dd', {}, h('code', {}, job.Id)),
    h('dt', {}, 'What'), h('dd', {}, job.Workflow),
    h('dt', {}, 'State'), h('dd', { class: 'job-state' }, badge(job.State)),
    h('dt', {}, 'Started by'), h('dd', {}, `${job.StartedBy} (${job.Trigger})`),
    h('dt', {}, 'Reason'), h('dd', {}, job.Reason || '—'),
    h('dt', {}, 'Created'), h('dd', {}, timeEl(job.CreatedAt)),
    h('dt', {}, 'Finished'), h('dd', {}, timeEl(job.FinishedAt)));
}

/**
 * Shows job `load()` in `container` and polls it every second until it ends or `signal` aborts;
 * `onAck(step, comment)` acknowledges a manual step; `onChange(job)` runs after each refresh.
 */
export async function watchJob(container, load, { onAck, signal, onChange, interval = 1000 }) {
  let last = '';
  let lastState = null;
  let lastAcks = 0;
  const tick = async () => {
    const job = await load();
    const signature = JSON.stringify([job.State, job.Error, (job.Steps || []).map((s) => [s.State, s.Attempts, s.FinishedAt, s.AcknowledgedBy])]);
    if (signature !== last) {
      last = signature;
      rerender(container, () => h('div', {}, jobFacts(job), renderProgress(job, {
        onAck: onAck && (async (step, comment) => { await onAck(step, comment); await tick(); }),
      })));
      const c = counts(job);
      if (lastState && job.State !== lastState) announce(`Job ${job.State.toLowerCase()}. ${summary(job)}`);
      else if (c.acks > lastAcks) announce('A manual step is waiting for acknowledgement.');
      lastState = job.State;
      lastAcks = c.acks;
    }
    onChange?.(job);
    return FINAL.includes(job.State);
  };
  return poll(tick, interval, signal);
}
