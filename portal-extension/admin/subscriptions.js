// The provider's DR subscriptions: the filtered list, and one subscription with its status, the
// drills and failovers its phase allows (by the default plan or any of its plans), its VMs with
// the provider's exclusion, its recovery plans (view and edit), its failover settings and its
// recent jobs and reports.

import { query } from '../shared/api.js';
import { button, field, h, notice, poll, replace, rerender, select } from '../shared/dom.js';
import { OPERATION_LABELS, badge, duration, facts, shortId, table, time, timeEl } from '../shared/format.js';
import { openOperationDialog, operationButtons, startOperation } from '../shared/failover.js';
import { jobTable } from '../shared/jobs.js';
import { planDetail, planEditor, planTable } from '../shared/plans.js';
import { reportTable } from '../shared/reports.js';

const PHASES = ['Enabling', 'Enabled', 'Failed', 'Disabling', 'Disabled'];

function vmSummary(counts) {
  const total = Object.values(counts || {}).reduce((a, b) => a + b, 0);
  return `${counts?.Protected || 0} of ${total} protected`;
}

/** `#/subscriptions`: every DR subscription, filtered by phase, pair, stamp or active stamp. */
export async function subscriptionsView(main, api) {
  const [pairs, stamps] = await Promise.all([api.get('/cloud-pairs'), api.get('/stamps')]);
  const stampOptions = [['', 'Any'], ...stamps.map((s) => [s.Id, s.Name])];
  const filters = {
    phase: select([['', 'Any'], ...PHASES.map((p) => [p, p])], ''),
    pairId: select([['', 'Any'], ...pairs.map((p) => [p.Id, `${p.Primary.PlanName || p.Primary.PlanId} → ${p.Recovery.PlanName || p.Recovery.PlanId}`])], ''),
    stampId: select(stampOptions, ''),
    activeStampId: select(stampOptions, ''),
  };
  const holder = h('div', { 'aria-live': 'polite' });
  const load = async () => {
    const values = Object.fromEntries(Object.entries(filters).map(([k, input]) => [k, input.value]));
    try {
      const list = await api.get(`/dr/subscriptions${query(values)}`);
      replace(holder, table(`DR subscriptions (${list.length})`, ['Subscription', 'DR', 'Active stamp', 'VMs', 'Worst health', 'RPO', 'Failover phase'], list.map((s) => [
        h('a', { href: `#/subscriptions/${s.SubscriptionId}` }, h('code', {}, s.SubscriptionId)),
        badge(s.Phase), s.ActiveStamp?.Name || '—', vmSummary(s.VmCounts), badge(s.WorstHealth || 'Unknown'),
        s.RpoSeconds === null ? '—' : duration(s.RpoSeconds), badge(s.Failover?.Phase || '—'),
      ]), 'No DR subscription matches.'));
    } catch (err) { replace(holder, notice(err.message)); }
  };
  const form = h('form', { class: 'filters', 'aria-label': 'Filters' },
    field('DR phase', filters.phase), field('Cloud pair', filters.pairId), field('Primary or recovery stamp', filters.stampId), field('Active stamp', filters.activeStampId),
    h('div', { class: 'field' }, h('button', { type: 'submit', class: 'primary' }, 'Apply the filters')));
  form.addEventListener('submit', (event) => { event.preventDefault(); load(); });
  replace(main, h('h2', {}, 'DR subscriptions'), form, holder);
  await load();
}

function settingsForm(api, id, settings) {
  const priority = h('input', { type: 'number', min: '1', max: '9', value: String(settings.Priority) });
  const onExpiry = select([['none', 'Nothing (wait for an operator)'], ['commit', 'Commit'], ['rollback', 'Roll back']], settings.CommitPolicy.OnExpiry);
  const after = h('input', { type: 'number', min: '1', max: '10080', value: settings.CommitPolicy.AfterMinutes ?? '' });
  const drill = h('input', { type: 'number', min: '1', max: '20160', value: settings.DrillCleanupAfterMinutes ?? '' });
  const status = h('div', { class: 'form-status' });
  const form = h('form', { 'aria-labelledby': 'settings-title' },
    h('h3', { id: 'settings-title' }, 'Failover settings'),
    field('Site failover tier (1 first, 9 last)', priority),
    field('When a failover\'s commit window expires', onExpiry),
    field('Commit window (minutes)', after, 'Needed unless nothing happens on expiry.'),
    field('Clean drills up after (minutes)', drill, 'Empty: drills stay until someone cleans them up.'),
    status, h('button', { type: 'submit' }, 'Save the settings'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {
      Priority: Number(priority.value),
      CommitPolicy: onExpiry.value === 'none' ? { OnExpiry: 'none' } : { OnExpiry: onExpiry.value, AfterMinutes: Number(after.value) },
      DrillCleanupAfterMinutes: drill.value ? Number(drill.value) : null,
    };
    try { await api.put(`/subscriptions/${id}/failover-settings`, body); replace(status, notice('Settings saved.', 'ok')); } catch (err) { replace(status, notice(err.message)); }
  });
  return form;
}

/** `#/subscriptions/{id}`: one DR subscription, followed live. */
export async function subscriptionView(main, api, id, signal) {
  const base = `/subscriptions/${id}`;
  const [plans, settings] = await Promise.all([api.get(`${base}/recovery-plans`), api.get(`${base}/failover-settings`).catch(() => null)]);
  const statusBox = h('div');
  const vmBox = h('div');
  const vmStatus = h('div', { class: 'form-status' });
  const jobsBox = h('div');
  replace(main,
    h('p', {}, h('a', { href: '#/subscriptions' }, '← All DR subscriptions')),
    h('h2', {}, `Subscription ${shortId(id)}`),
    statusBox,
    h('section', { 'aria-labelledby': 'vms-title' }, h('h3', { id: 'vms-title' }, 'Virtual machines'), vmStatus, vmBox),
    h('section', { 'aria-labelledby': 'plans-title' }, h('h3', { id: 'plans-title' }, 'Recovery plans'), planTable(plans, `#/subscriptions/${id}/plans`),
      h('p', {}, h('a', { href: `#/subscriptions/${id}/plans/new`, class: 'button' }, 'New recovery plan'))),
    settings ? settingsForm(api, id, settings) : null,
    jobsBox);
  let last = '';
  await poll(async () => {
    const [dr, vms, jobs, reports] = await Promise.all([api.get(`${base}/dr`), api.get(`${base}/vms`), api.get(`/jobs${query({ subscription: id, limit: 10 })}`), api.get(`/reports${query({ subscription: id, limit: 5 })}`).then((r) => r.Reports)]);
    const key = JSON.stringify([dr, vms.map((v) => [v.State, v.Exclusion, v.Health]), jobs.map((j) => j.State), reports.length]);
    if (key === last) return false;
    last = key;
    const f = dr.Failover || {};
    rerender(statusBox, () => h('div', {},
      facts([
        ['Subscription', h('code', {}, id)], ['DR', badge(dr.Phase)], ['Message', dr.Message || '—'],
        ['Active stamp', dr.ActiveStamp?.Name || '—'], ['Tenant portal now', dr.PortalUrl || '—'],
        ['Primary → recovery', `${dr.PrimaryStamp?.Name || '—'} → ${dr.RecoveryStamp?.Name || '—'}`],
        ['VMs', vmSummary(dr.VmCounts)], ['Worst health', badge(dr.WorstHealth || 'Unknown')],
        ['RPO', dr.RpoSeconds === null ? '—' : duration(dr.RpoSeconds)], ['Self-service', dr.SelfService || '—'],
        ['Failover phase', badge(f.Phase || '—')], ['Open deadline', f.Deadline ? `${f.Deadline.Action} at ${time(f.Deadline.At)}` : '—'],
        ['Pending', (f.Pending || []).join('; ') || '—'],
      ], { id: 'subscription-status' }),
      h('section', { 'aria-labelledby': 'ops-title' }, h('h3', { id: 'ops-title' }, 'Drills and failovers'),
        operationButtons(f.Allowed, Object.keys(OPERATION_LABELS), (kind, opener) => openOperationDialog({
          kind, plans, admin: true, opener, subject: `subscription ${shortId(id)}`,
          start: (body, planId) => startOperation(api, base, body, planId),
          started: (jobId) => { location.hash = `#/jobs/${jobId}`; },
        })))));
    rerender(vmBox, () => table('VMs', ['VM', 'Protection', 'Exclusion', 'Health', 'RPO', 'Last recovery point', 'Reason', 'Change'], vms.map((vm) => [
      vm.Name, badge(vm.State), vm.Exclusion || '—', badge(vm.Health || 'Unknown'), vm.RpoSeconds === null ? '—' : duration(vm.RpoSeconds),
      timeEl(vm.LastRecoveryPoint), vm.Reason || '—',
      button(vm.Exclusion ? `Include ${vm.Name}` : `Exclude ${vm.Name}`, async () => {
        try {
          const answer = await api.put(`${base}/vms/${vm.Id}/protection`, { Excluded: !vm.Exclusion });
          replace(vmStatus, notice(answer.JobId ? `Started job ${answer.JobId}.` : 'Nothing to change.', 'ok'));
          last = '';
        } catch (err) { replace(vmStatus, notice(err.message)); }
      }, { class: 'small' }),
    ]), 'No VMs.'));
    rerender(jobsBox, () => h('div', {},
      h('h3', {}, 'Recent jobs'), jobTable(jobs),
      h('h3', {}, 'Recent reports'), reportTable(reports)));
    return false;
  }, 3000, signal);
}

/** `#/subscriptions/{id}/plans/{planId|new}[/edit]`. */
export async function subscriptionPlanView(main, api, id, planId, edit) {
  const base = `/subscriptions/${id}`;
  const [plans, vms] = await Promise.all([api.get(`${base}/recovery-plans`), api.get(`${base}/vms`)]);
  const isNew = planId === 'new';
  const plan = isNew ? null : plans.find((p) => p.Id === planId);
  if (!isNew && !plan) throw new Error('No such recovery plan.');
  const back = h('p', {}, h('a', { href: `#/subscriptions/${id}` }, '← The subscription'));
  if (isNew || edit) {
    if (plan?.IsDefault) throw new Error('The default plan is kept by wapdr and cannot be edited.');
    replace(main, back, h('h2', {}, isNew ? 'New recovery plan' : `Edit ${plan.Name}`), planEditor({
      plan, vms,
      save: (body) => (isNew ? api.post(`${base}/recovery-plans`, body) : api.put(`${base}/recovery-plans/${plan.Id}`, body)),
      done: (saved) => { location.hash = `#/subscriptions/${id}/plans/${saved.Id}`; },
    }));
    return;
  }
  const status = h('div', { class: 'form-status' });
  replace(main, back, h('h2', {}, plan.IsDefault ? `${plan.Name} (default)` : plan.Name),
    planDetail(plan, new Map(vms.map((v) => [v.Id, v.Name]))),
    plan.IsDefault ? h('p', { class: 'muted' }, 'wapdr keeps the default plan in step with the protected VMs.') : h('div', { class: 'actions' },
      h('a', { href: `#/subscriptions/${id}/plans/${plan.Id}/edit`, class: 'button' }, 'Edit the plan'),
      button('Delete the plan', async () => {
        try { await api.del(`${base}/recovery-plans/${plan.Id}`); location.hash = `#/subscriptions/${id}`; } catch (err) { replace(status, notice(err.message)); }
      }, { class: 'danger' })),
    status);
}
