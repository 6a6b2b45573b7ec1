// The tenant's disaster-recovery UI: the subscription's DR status with the portal to use as a
// banner that follows failovers, the VMs with their protection and exclusion, recovery plans,
// drills and failovers as the plan's self-service allows, job history with live progress, and
// drill reports. It needs only a client for the tenant API of one subscription (`api.get('/dr')`
// → `GET .../subscriptions/{subid}/dr`), so WAP's extension and the standalone page mount the
// same code with different clients.

import { button, h, notice, poll, replace, rerender, route } from '../shared/dom.js';
import { badge, duration, facts, table, time, timeEl } from '../shared/format.js';
import { openOperationDialog, operationButtons, startOperation, tenantOperations } from '../shared/failover.js';
import { jobView, jobsView } from '../shared/jobs.js';
import { planDetail, planEditor, planTable } from '../shared/plans.js';
import { reportView, reportsView } from '../shared/reports.js';

const NAV = [['#/status', 'Status'], ['#/vms', 'Virtual machines'], ['#/plans', 'Recovery plans'], ['#/jobs', 'Jobs'], ['#/reports', 'Reports']];

/** The portal banner: where the VMs run now and which portal to use, loudly after a failover. */
export function bannerFor(dr) {
  if (!dr.Enabled) {
    return h('div', { class: 'banner neutral', id: 'portal-banner' }, h('p', {}, 'Disaster recovery is not enabled for this subscription.'));
  }
  const active = dr.ActiveStamp?.Name || dr.ActiveStamp?.Id || 'unknown';
  const link = dr.PortalUrl ? h('a', { href: dr.PortalUrl, class: 'portal-url' }, dr.PortalUrl) : 'not known';
  const failedOver = dr.ActiveStamp && dr.PrimaryStamp && dr.ActiveStamp.Id !== dr.PrimaryStamp.Id;
  if (failedOver) {
    return h('div', { class: 'banner warn', id: 'portal-banner', dataset: { activeStamp: active } },
      h('p', { class: 'banner-title' }, `Your VMs now run on stamp ${active} after a failover.`),
      h('p', {}, 'Sign in to that stamp\'s portal with the same credentials to manage them: ', link, '. Your subscription id stays the same.'));
  }
  return h('div', { class: 'banner ok', id: 'portal-banner', dataset: { activeStamp: active } },
    h('p', { class: 'banner-title' }, `Your VMs run on stamp ${active}.`),
    h('p', {}, 'Portal to use: ', link, '.'));
}

function protectedSummary(dr) {
  const counts = dr.VmCounts || {};
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return `${counts.Protected || 0} of ${total} VMs protected`;
}

function statusFacts(dr) {
  const f = dr.Failover || {};
  return facts([
    ['Disaster recovery', dr.Enabled ? badge('Enabled') : badge('Disabled')],
    ['Protection', h('span', {}, badge(dr.Phase || '—'), dr.Message ? ` ${dr.Message}` : '')],
    ['VMs', protectedSummary(dr)],
    ['Worst health', badge(dr.WorstHealth || 'Unknown')],
    ['RPO (worst protected VM)', dr.RpoSeconds === null ? '—' : duration(dr.RpoSeconds)],
    ['Active stamp', dr.ActiveStamp?.Name || '—'],
    ['Primary stamp', dr.PrimaryStamp?.Name || '—'],
    ['Recovery stamp', dr.RecoveryStamp?.Name || '—'],
    ['Failover phase', badge(f.Phase || '—')],
    ['Open deadline', f.Deadline ? `${f.Deadline.Action} at ${time(f.Deadline.At)}` : '—'],
    ['Self-service', dr.SelfService || '—'],
  ], { id: 'dr-status' });
}

/** Mounts the tenant UI: `main` for views, `nav` for links, `bannerSlot` for the portal banner. */
export function mount({ api, main, nav, bannerSlot }) {
  replace(nav, h('ul', {}, NAV.map(([href, label]) => h('li', {}, h('a', { href }, label)))));
  nav.hidden = false;

  // The banner follows the DR status on every page, so a failover run by the provider shows here.
  let lastDr = null;
  const refreshBanner = async () => {
    const dr = await api.get('/dr');
    const key = JSON.stringify([dr.Enabled, dr.ActiveStamp, dr.PortalUrl]);
    if (key !== lastDr) { lastDr = key; rerender(bannerSlot, () => bannerFor(dr)); }
    return false;
  };
  poll(refreshBanner, 4000, new AbortController().signal)
    .catch((err) => rerender(bannerSlot, () => notice(`The disaster-recovery status cannot be read: ${err.message}`)));

  const plansAndVms = async () => {
    const [plans, vms] = await Promise.all([api.get('/recovery-plans'), api.get('/vms')]);
    return { plans, vms, names: new Map(vms.map((v) => [v.Id, v.Name])) };
  };

  async function statusView(target, _m, signal) {
    const holder = h('div');
    replace(target, h('h2', {}, 'Disaster recovery status'), holder);
    let plans = [];
    try { plans = await api.get('/recovery-plans'); } catch { plans = []; }
    let last = '';
    await poll(async () => {
      const dr = await api.get('/dr');
      const key = JSON.stringify(dr);
      if (key === last) return false;
      last = key;
      const f = dr.Failover || {};
      rerender(holder, () => h('div', {},
        statusFacts(dr),
        h('section', { 'aria-labelledby': 'ops-title' },
          h('h3', { id: 'ops-title' }, 'Drills and failovers'),
          dr.SelfService === 'None' ? h('p', {}, 'Your plan leaves drills and failovers to your provider.') : null,
          operationButtons(f.Allowed, tenantOperations(dr.SelfService), (kind, opener) => openOperationDialog({
            kind, plans, opener,
            start: (body, planId) => startOperation(api, '', body, planId),
            started: (jobId) => { location.hash = `#/jobs/${jobId}`; },
          })),
          f.LastJobId ? h('p', {}, 'Last operation: ', h('a', { href: `#/jobs/${f.LastJobId}` }, `${f.LastOperation} (job)`)) : null)));
      return false;
    }, 3000, signal);
  }

  async function vmsView(target, _m, signal) {
    const status = h('div', { class: 'form-status' });
    const holder = h('div');
    replace(target, h('h2', {}, 'Virtual machines'), status, holder);
    const draw = async () => {
      const [dr, vms] = await Promise.all([api.get('/dr'), api.get('/vms')]);
      const mayChange = dr.SelfService !== 'None' && (dr.Failover?.Phase || 'Replicating') === 'Replicating';
      rerender(holder, () => h('div', {},
        h('p', { id: 'vm-summary', class: 'lead' }, protectedSummary(dr)),
        table('The subscription\'s VMs', ['VM', 'Protection', 'Health', 'RPO', 'Last recovery point', 'Reason', 'Disaster recovery'], vms.map((vm) => [
          vm.Name,
          h('span', {}, badge(vm.State), vm.State !== 'Protected' && vm.InitialReplicationPercent !== null ? ` ${vm.InitialReplicationPercent}%` : ''),
          h('span', {}, badge(vm.Health || 'Unknown'), vm.HealthDetail ? h('span', { class: 'muted' }, ` ${vm.HealthDetail}`) : null),
          vm.RpoSeconds === null ? '—' : duration(vm.RpoSeconds),
          timeEl(vm.LastRecoveryPoint),
          vm.Reason || '—',
          vm.Exclusion === 'Admin' ? 'Excluded by your provider'
            : !mayChange ? (vm.Exclusion ? 'Excluded' : 'Included')
              : button(vm.Exclusion ? `Include ${vm.Name}` : `Exclude ${vm.Name}`, async (event) => {
                event.currentTarget.disabled = true;
                try {
                  const answer = await api.put(`/vms/${vm.Id}/protection`, { Excluded: !vm.Exclusion });
                  replace(status, notice(answer.JobId ? `${vm.Name} will be ${vm.Exclusion ? 'protected again' : 'left out of disaster recovery'} (job ${answer.JobId}).` : 'Nothing to change.', 'ok'));
                } catch (err) {
                  replace(status, notice(err.message));
                }
                await draw();
              }, { class: 'small' }),
        ]), 'The subscription has no VMs yet.')));
      return false;
    };
    await poll(draw, 5000, signal);
  }

  async function plansView(target) {
    const [dr, plans] = await Promise.all([api.get('/dr'), api.get('/recovery-plans')]);
    replace(target, h('h2', {}, 'Recovery plans'),
      h('p', {}, 'A plan orders a failover: its groups run one after another, the VMs of a group in parallel.'),
      planTable(plans),
      dr.SelfService === 'Full' ? h('p', {}, h('a', { href: '#/plans/new', class: 'button' }, 'New recovery plan')) : h('p', { class: 'muted' }, 'Your plan lets you read recovery plans; your provider edits them.'));
  }

  async function planView(target, m) {
    const [dr, { plans, vms, names }] = await Promise.all([api.get('/dr'), plansAndVms()]);
    const isNew = m[1] === 'new';
    const plan = isNew ? null : plans.find((p) => p.Id === m[1]);
    if (!isNew && !plan) throw new Error('No such recovery plan.');
    const canEdit = dr.SelfService === 'Full' && !plan?.IsDefault;
    const back = h('p', {}, h('a', { href: '#/plans' }, '← All plans'));
    if (isNew || m[2]) {
      if (!canEdit) throw new Error('You cannot edit this plan.');
      replace(target, back, h('h2', {}, isNew ? 'New recovery plan' : `Edit ${plan.Name}`), planEditor({
        plan, vms,
        save: (body) => (isNew ? api.post('/recovery-plans', body) : api.put(`/recovery-plans/${plan.Id}`, body)),
        done: (saved) => { location.hash = `#/plans/${saved.Id}`; },
      }));
      return;
    }
    const status = h('div', { class: 'form-status' });
    replace(target, back, h('h2', {}, plan.IsDefault ? `${plan.Name} (default)` : plan.Name),
      plan.IsDefault ? h('p', { class: 'muted' }, 'wapdr keeps the default plan in step with your protected VMs; it cannot be edited.') : null,
      planDetail(plan, names),
      canEdit ? h('div', { class: 'actions' },
        h('a', { href: `#/plans/${plan.Id}/edit`, class: 'button' }, 'Edit the plan'),
        button('Delete the plan', async () => {
          try { await api.del(`/recovery-plans/${plan.Id}`); location.hash = '#/plans'; } catch (err) { replace(status, notice(err.message)); }
        }, { class: 'danger' })) : null,
      status);
  }

  return route(main, [
    [/^\/status$/, statusView],
    [/^\/vms$/, vmsView],
    [/^\/plans$/, plansView],
    [/^\/plans\/([^/]+)(\/edit)?$/, planView],
    [/^\/jobs$/, (t, _m, signal) => jobsView(t, api, signal)],
    [/^\/jobs\/([^/]+)$/, (t, m, signal) => jobView(t, api, m[1], signal, { ackBody: (comment) => ({ comment }) })],
    [/^\/reports$/, (t) => reportsView(t, api, { intro: h('p', {}, 'Every drill and failover of your subscription, with its timeline and recovery time.') })],
    [/^\/reports\/([^/]+)$/, (t, m) => reportView(t, api, m[1])],
  ], '/status');
}
