// Starting a drill, failover or any other DR operation: the buttons for what the subscription's
// phase allows (and, for a tenant, what the plan's self-service allows), and the modal dialog
// that asks for the recovery plan, a reason and the operation's options before it starts.
// The dialog is a native <dialog> opened with showModal: focus stays inside, Escape closes it,
// and the focus returns to the button that opened it.

import { button, field, h, newId, notice, replace, select } from './dom.js';
import { OPERATION_LABELS } from './format.js';

// Operations that run by a recovery plan's order; the others run every VM at once.
const BY_PLAN = ['test', 'planned', 'unplanned', 'failback'];

const EXPLAIN = {
  test: 'Starts copies of the VMs on the recovery stamp in an isolated network. Production and replication are not touched. Clean the drill up when you are done.',
  testCleanup: 'Removes the drill\'s test copies.',
  planned: 'Shuts the VMs down, replicates what is left and starts them on the other stamp: no data is lost. The subscription then runs on the other stamp.',
  unplanned: 'Starts the VMs on the other stamp from a recovery point, without the source stamp. Use it when the source is lost.',
  commit: 'Makes the failover final. It can no longer be rolled back.',
  rollback: 'Undoes the failover: the VMs run again where they came from and replication resumes.',
  reprotect: 'Reverses replication so the VMs are protected again, towards the stamp they came from.',
  failback: 'Planned failover back to the primary stamp, commit and reprotect in one job.',
};

/** The operations a tenant may start with `selfService` (`None`, `Drill`, `Full`). */
export function tenantOperations(selfService) {
  if (selfService === 'Full') return Object.keys(OPERATION_LABELS).filter((k) => k !== 'unplanned');
  if (selfService === 'Drill') return ['test', 'testCleanup'];
  return [];
}

/**
 * Buttons for each operation in `allowed` ∩ `permitted`; `open(kind, opener)` shows the dialog.
 * Returns a note instead when nothing is allowed now.
 */
export function operationButtons(allowed, permitted, open, { running } = {}) {
  const kinds = (allowed || []).filter((k) => permitted.includes(k));
  if (running) return h('p', { class: 'muted' }, 'An operation is running: follow it under Jobs.');
  if (!kinds.length) return h('p', { class: 'muted' }, 'No operation is open to you in the current phase.');
  return h('div', { class: 'actions', role: 'group', 'aria-label': 'Operations' },
    kinds.map((kind) => button(OPERATION_LABELS[kind] || kind, (event) => open(kind, event.currentTarget), { class: kind === 'test' || kind === 'planned' ? 'primary' : undefined })));
}

/**
 * Opens the dialog for `kind`. `plans` are the subscription's recovery plans; `admin` adds the
 * provider-only options (unplanned failover's recovery point and the source being down).
 * `start(body, planId)` starts it and resolves with the answer (its `JobId`); `started(jobId)`
 * runs after the dialog closed.
 */
export function openOperationDialog({ kind, plans = [], admin = false, subject, start, started, opener }) {
  const titleId = newId('dlg');
  const inputs = {};
  const status = h('div', { class: 'form-status' });
  const fields = [];
  if (BY_PLAN.includes(kind) && plans.length) {
    const options = plans.map((p) => [p.IsDefault ? '' : p.Id, p.IsDefault ? `${p.Name} (default)` : p.Name]);
    if (!plans.some((p) => p.IsDefault)) options.unshift(['', 'Default plan']);
    inputs.plan = select(options, '', { name: 'plan' });
    fields.push(field('Recovery plan', inputs.plan, 'The order the VMs fail over in: groups one after another, VMs of a group in parallel.'));
  }
  inputs.reason = h('input', { type: 'text', name: 'reason', autocomplete: 'off' });
  fields.push(field('Reason (recorded on the job and its report)', inputs.reason));
  if (kind === 'test') {
    inputs.cleanup = h('input', { type: 'number', name: 'cleanup', min: '1', max: '20160', inputmode: 'numeric' });
    fields.push(field('Clean up automatically after (minutes, optional)', inputs.cleanup, 'Empty: as the subscription\'s settings say.'));
  }
  if (kind === 'unplanned' && admin) {
    inputs.point = select([['latest', 'Latest recovery point'], ['latestAppConsistent', 'Latest app-consistent point']], 'latest', { name: 'point' });
    fields.push(field('Recovery point', inputs.point));
    inputs.sourceDown = h('input', { type: 'checkbox', name: 'sourceDown' });
    fields.push(h('div', { class: 'field check' }, inputs.sourceDown, h('label', { for: inputs.sourceDown.id = newId('f') }, 'I confirm the source stamp is down (needed unless the site heartbeat says so)')));
  }
  const submit = h('button', { type: 'submit', class: kind === 'unplanned' || kind === 'commit' ? 'danger' : 'primary' }, 'Start');
  const cancel = h('button', { type: 'button', value: 'cancel' }, 'Cancel');
  const form = h('form', { method: 'dialog' },
    h('h2', { id: titleId }, `${OPERATION_LABELS[kind] || kind}${subject ? ` — ${subject}` : ''}`),
    h('p', {}, EXPLAIN[kind] || ''),
    fields, status,
    h('div', { class: 'actions' }, submit, cancel));
  const dialog = h('dialog', { 'aria-labelledby': titleId, class: 'operation' }, form);
  cancel.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => { dialog.remove(); opener?.focus(); });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { kind };
    if (inputs.reason.value.trim()) body.reason = inputs.reason.value.trim();
    if (inputs.cleanup?.value) body.cleanupAfterMinutes = Number(inputs.cleanup.value);
    if (inputs.point) body.recoveryPoint = inputs.point.value;
    if (inputs.sourceDown?.checked) body.sourceDown = true;
    submit.disabled = true;
    replace(status, h('p', { role: 'status' }, 'Starting…'));
    try {
      const answer = await start(body, inputs.plan?.value || null);
      dialog.close();
      started(answer.JobId);
    } catch (err) {
      submit.disabled = false;
      replace(status, notice(err.message));
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  (inputs.plan || inputs.reason).focus();
  return dialog;
}

/** The failover call for `body` by `planId` (or the default plan) under `base`. */
export function startOperation(api, base, body, planId) {
  return api.post(planId ? `${base}/recovery-plans/${planId}/failover` : `${base}/failover`, body);
}
