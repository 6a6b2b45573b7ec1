// The provider's setup views: stamps with their site health, probe history, verification and site
// failover; replication policies; cloud pairs (created from each stamp's live plans and clouds,
// followed until the vault pairs them) with their network mappings and test network. Secrets are
// write-only: the forms never show a stored one, and an empty secret field on edit keeps it.

import { button, field, h, notice, poll, replace, rerender, select } from '../shared/dom.js';
import { OPERATION_LABELS, badge, facts, okBadge, table, time, timeEl } from '../shared/format.js';
import { openOperationDialog, operationButtons } from '../shared/failover.js';

const ALL_OPERATIONS = Object.keys(OPERATION_LABELS);

function services(list) {
  return table('Services', ['Service', 'Result', 'Reachable', 'Credentials accepted', 'Latency', 'Message'], (list || []).map((s) => [
    s.Service, okBadge(s.Ok), s.Reachable === null ? '—' : s.Reachable ? 'Yes' : 'No',
    s.CredentialsAccepted === null ? '—' : s.CredentialsAccepted ? 'Yes' : 'No',
    s.LatencyMs === null || s.LatencyMs === undefined ? '—' : `${s.LatencyMs} ms`, s.Message || '—',
  ]), 'Not probed yet: the site-heartbeat runbook probes every stamp each minute.');
}

function checks(report) {
  return h('div', { class: 'verify-report' },
    h('p', {}, `Verification of ${report.StampName}: `, okBadge(report.Ok)),
    table(`Checks of ${report.StampName}`, ['Service', 'Result', 'Reachable', 'Credentials accepted', 'Message', 'Found'], report.Checks.map((c) => [
      c.Service, okBadge(c.Ok), c.Reachable === null ? '—' : c.Reachable ? 'Yes' : 'No',
      c.CredentialsAccepted === null ? '—' : c.CredentialsAccepted ? 'Yes' : 'No', c.Message, (c.Found || []).join(', ') || '—',
    ])));
}

/** `#/stamps`: every stamp with its site-health verdict, refreshed every 10 s. */
export async function stampsView(main, api, signal) {
  const holder = h('div');
  replace(main, h('h2', {}, 'Stamps and site health'), h('p', {}, h('a', { href: '#/stamps/new', class: 'button' }, 'Register a stamp')), holder);
  await poll(async () => {
    const [stamps, health] = await Promise.all([api.get('/stamps'), api.get('/site-health')]);
    const byId = new Map(health.map((s) => [s.StampId, s]));
    rerender(holder, () => table('Stamps', ['Stamp', 'Site health', 'Since', 'Last probe', 'Reason', 'Automatic failover', 'Tenant portal'], stamps.map((s) => {
      const hh = byId.get(s.Id) || {};
      return [h('a', { href: `#/stamps/${s.Id}` }, s.Name), badge(hh.Verdict || 'Unknown'), timeEl(hh.Since), timeEl(hh.LastProbeAt), hh.Reason || '—', s.AutoFailover ? 'On' : 'Off', s.TenantPortalUrl];
    }), 'No stamps yet: register the two WAP stamps first.'));
    return false;
  }, 10000, signal);
}

/** `#/stamps/new` and `#/stamps/{id}/edit`. */
export async function stampFormView(main, api, id) {
  const stamp = id ? await api.get(`/stamps/${id}`) : null;
  const inputs = {
    Name: h('input', { type: 'text', value: stamp?.Name || '', required: true }),
    SpfUrl: h('input', { type: 'url', value: stamp?.SpfUrl || '', required: true }),
    SpfUsername: h('input', { type: 'text', value: stamp?.SpfUsername || '', autocomplete: 'off' }),
    SpfPassword: h('input', { type: 'password', autocomplete: 'new-password' }),
    WapAdminUrl: h('input', { type: 'url', value: stamp?.WapAdminUrl || '' }),
    WapAdminToken: h('input', { type: 'password', autocomplete: 'off' }),
    TenantPortalUrl: h('input', { type: 'url', value: stamp?.TenantPortalUrl || '' }),
    AutoFailover: h('input', { type: 'checkbox', checked: Boolean(stamp?.AutoFailover), id: 'stamp-auto' }),
  };
  const keep = stamp ? 'Leave empty to keep the stored one.' : undefined;
  const status = h('div', { class: 'form-status' });
  const form = h('form', { 'aria-label': stamp ? `Edit ${stamp.Name}` : 'Register a stamp' },
    field('Name', inputs.Name),
    field('SPF OData service root URL', inputs.SpfUrl),
    field('SPF user name', inputs.SpfUsername),
    field('SPF password', inputs.SpfPassword, keep),
    field('WAP admin API URL', inputs.WapAdminUrl),
    field('WAP admin API token', inputs.WapAdminToken, keep),
    field('Tenant portal URL', inputs.TenantPortalUrl, 'Shown to tenants as the portal to use while their VMs run here.'),
    h('div', { class: 'field check' }, inputs.AutoFailover, h('label', { for: 'stamp-auto' }, 'Fail over automatically when the site heartbeat judges the stamp Down')),
    status,
    h('button', { type: 'submit', class: 'primary' }, stamp ? 'Save' : 'Register'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {};
    for (const [key, input] of Object.entries(inputs)) {
      if (input.type === 'checkbox') body[key] = input.checked;
      else if (input.value.trim() || input.type !== 'password') body[key] = input.value.trim();
    }
    try {
      const saved = stamp ? await api.put(`/stamps/${stamp.Id}`, body) : await api.post('/stamps', body);
      location.hash = `#/stamps/${saved.Id}`;
    } catch (err) {
      replace(status, notice(err.message));
    }
  });
  replace(main, h('p', {}, h('a', { href: '#/stamps' }, '← All stamps')), h('h2', {}, stamp ? `Edit ${stamp.Name}` : 'Register a stamp'), form);
}

/** `#/stamps/{id}`: the stamp, its health and history, verification and site failover. */
export async function stampView(main, api, id, signal) {
  const stamp = await api.get(`/stamps/${id}`);
  const healthBox = h('div');
  const verifyBox = h('div', { 'aria-live': 'polite' });
  const status = h('div', { class: 'form-status' });
  replace(main,
    h('p', {}, h('a', { href: '#/stamps' }, '← All stamps')),
    h('h2', {}, `Stamp ${stamp.Name}`),
    facts([
      ['SPF', stamp.SpfUrl], ['VMM stamp id', stamp.SpfStampId || 'not verified yet'], ['WAP admin API', stamp.WapAdminUrl],
      ['Tenant portal', stamp.TenantPortalUrl], ['Automatic failover', stamp.AutoFailover ? 'On' : 'Off'],
    ]),
    h('div', { class: 'actions' },
      button('Verify the stamp', async (event) => {
        const btn = event.currentTarget;
        btn.disabled = true;
        replace(verifyBox, h('p', { role: 'status' }, 'Verifying…'));
        try { replace(verifyBox, checks(await api.post(`/stamps/${id}/verify`))); } catch (err) { replace(verifyBox, notice(err.message)); }
        btn.disabled = false;
      }),
      h('a', { href: `#/stamps/${id}/edit`, class: 'button' }, 'Edit'),
      button('Delete', async () => {
        try { await api.del(`/stamps/${id}`); location.hash = '#/stamps'; } catch (err) { replace(status, notice(err.message)); }
      }, { class: 'danger' })),
    status, verifyBox,
    h('section', { 'aria-labelledby': 'site-ops' }, h('h3', { id: 'site-ops' }, 'Site failover'),
      h('p', {}, 'Runs the operation for every DR subscription of this stamp, tier by tier as their priorities say.'),
      operationButtons(ALL_OPERATIONS, ALL_OPERATIONS, (kind, opener) => openOperationDialog({
        kind, admin: true, opener, subject: `site ${stamp.Name}`,
        start: (body) => api.post(`/stamps/${id}/failover`, body),
        started: (jobId) => { location.hash = `#/jobs/${jobId}`; },
      }))),
    healthBox);
  await poll(async () => {
    const health = await api.get(`/stamps/${id}/health?limit=20`);
    rerender(healthBox, () => h('section', { 'aria-labelledby': 'health-title' },
      h('h3', { id: 'health-title' }, 'Site health'),
      facts([['Verdict', badge(health.Verdict)], ['Since', timeEl(health.Since)], ['Reason', health.Reason || '—'], ['Consecutive misses', String(health.ConsecutiveMisses)]]),
      services(health.Services),
      h('h3', {}, 'History'),
      table('Probes, newest first', ['Probed', 'Verdict', 'Misses', 'Failing services'], (health.History || []).map((p) => [
        time(p.ProbedAt), badge(p.Verdict), String(p.ConsecutiveMisses), (p.Services || []).filter((s) => !s.Ok).map((s) => s.Service).join(', ') || 'none',
      ]), 'No probes recorded yet.')));
    return false;
  }, 10000, signal);
}

/** `#/policies`: replication policies, with the form for a new one or the one named. */
export async function policiesView(main, api, name) {
  const policies = await api.get('/policies');
  const policy = name ? policies.find((p) => p.Name === name) : null;
  const inputs = {
    Name: h('input', { type: 'text', value: policy?.Name || '', required: true, readOnly: Boolean(policy) }),
    CopyFrequencySeconds: select([[30, '30 seconds'], [300, '5 minutes'], [900, '15 minutes']], policy?.CopyFrequencySeconds ?? 300),
    RecoveryPoints: h('input', { type: 'number', min: '0', max: '24', value: String(policy?.RecoveryPoints ?? 4) }),
    AppConsistentFrequencyHours: h('input', { type: 'number', min: '0', max: '12', value: String(policy?.AppConsistentFrequencyHours ?? 1) }),
    InitialReplication: select([['OverNetwork', 'Over the network'], ['Offline', 'Offline']], policy?.InitialReplication ?? 'OverNetwork'),
    Compression: h('input', { type: 'checkbox', checked: policy ? policy.Compression : true, id: 'policy-compression' }),
  };
  const status = h('div', { class: 'form-status' });
  const form = h('form', { 'aria-labelledby': 'policy-form-title' },
    h('h3', { id: 'policy-form-title' }, policy ? `Edit ${policy.Name}` : 'New policy'),
    field('Policy name', inputs.Name), field('Copy frequency', inputs.CopyFrequencySeconds),
    field('Additional recovery points (0–24)', inputs.RecoveryPoints), field('App-consistent snapshot every (hours, 0 = none)', inputs.AppConsistentFrequencyHours),
    field('Initial replication', inputs.InitialReplication),
    h('div', { class: 'field check' }, inputs.Compression, h('label', { for: 'policy-compression' }, 'Compress replication traffic')),
    status, h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, policy ? 'Save the policy' : 'Create the policy'),
      policy ? button('Delete the policy', async () => {
        try { await api.del(`/policies/${encodeURIComponent(policy.Name)}`); location.hash = '#/policies'; } catch (err) { replace(status, notice(err.message)); }
      }, { class: 'danger' }) : null));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {
      Name: inputs.Name.value.trim(), CopyFrequencySeconds: Number(inputs.CopyFrequencySeconds.value),
      RecoveryPoints: Number(inputs.RecoveryPoints.value), AppConsistentFrequencyHours: Number(inputs.AppConsistentFrequencyHours.value),
      InitialReplication: inputs.InitialReplication.value, Compression: inputs.Compression.checked,
    };
    try {
      if (policy) {
        await api.put(`/policies/${encodeURIComponent(policy.Name)}`, body);
        await policiesView(main, api, policy.Name);
        main.querySelector('.form-status')?.replaceChildren(notice('Policy saved.', 'ok'));
      } else {
        await api.post('/policies', body);
        location.hash = `#/policies/${encodeURIComponent(body.Name)}`;
      }
    } catch (err) { replace(status, notice(err.message)); }
  });
  replace(main, h('h2', {}, 'Replication policies'),
    table('Policies', ['Policy', 'Copy frequency', 'Recovery points', 'App-consistent every', 'Initial replication', 'Compression'], policies.map((p) => [
      h('a', { href: `#/policies/${encodeURIComponent(p.Name)}` }, p.Name), `${p.CopyFrequencySeconds} s`, String(p.RecoveryPoints),
      p.AppConsistentFrequencyHours ? `${p.AppConsistentFrequencyHours} h` : 'never', p.InitialReplication, p.Compression ? 'Yes' : 'No',
    ]), 'No policies yet.'),
    form);
}

function sideText(side) {
  return `${side.StampName || side.StampId} · ${side.PlanName || side.PlanId}`;
}

/** `#/pairs`: the cloud pairs, refreshed while any is still being paired. */
export async function pairsView(main, api, signal) {
  const holder = h('div');
  replace(main, h('h2', {}, 'Cloud pairs'), h('p', {}, h('a', { href: '#/pairs/new', class: 'button' }, 'New cloud pair')), holder);
  await poll(async () => {
    const pairs = await api.get('/cloud-pairs');
    rerender(holder, () => table('Cloud pairs', ['Pair', 'Primary', 'Recovery', 'Policy', 'State', 'Error'], pairs.map((p) => [
      h('a', { href: `#/pairs/${p.Id}` }, `${p.Primary.PlanName || p.Primary.PlanId} → ${p.Recovery.PlanName || p.Recovery.PlanId}`),
      sideText(p.Primary), sideText(p.Recovery), p.Policy, badge(p.State), p.Error || '—',
    ]), 'No cloud pairs yet.'));
    return !pairs.some((p) => p.State === 'Pending');
  }, 2000, signal);
}

// One side of the new-pair form: stamp, then its plans (live), then the plan's cloud.
function sideChooser(api, label, stamps, prefix) {
  const stamp = select([['', 'Choose a stamp'], ...stamps.map((s) => [s.Id, s.Name])], '', { id: `${prefix}-stamp`, required: true });
  const plan = select([['', 'Choose the stamp first']], '', { id: `${prefix}-plan`, required: true, disabled: true });
  const cloud = select([['', 'Choose the plan first']], '', { id: `${prefix}-cloud`, required: true, disabled: true });
  const status = h('div', { class: 'form-status' });
  let plans = [];
  let clouds = [];
  stamp.addEventListener('change', async () => {
    replace(plan, h('option', { value: '' }, 'Loading plans…'));
    plan.disabled = true; cloud.disabled = true;
    replace(status);
    if (!stamp.value) return;
    try {
      [plans, clouds] = await Promise.all([api.get(`/stamps/${stamp.value}/plans`), api.get(`/stamps/${stamp.value}/clouds`)]);
      replace(plan, h('option', { value: '' }, 'Choose a plan'), plans.map((p) => h('option', { value: p.Id }, `${p.Name} (${p.Id})`)));
      plan.disabled = false;
    } catch (err) { replace(status, notice(err.message)); }
  });
  plan.addEventListener('change', () => {
    const chosen = plans.find((p) => p.Id === plan.value);
    const ids = chosen ? (chosen.CloudIds?.length ? chosen.CloudIds : [chosen.CloudId]).filter(Boolean) : [];
    replace(cloud, ids.map((id) => h('option', { value: id }, clouds.find((c) => c.Id === id)?.Name || id)));
    cloud.disabled = !ids.length;
  });
  return {
    element: h('fieldset', {}, h('legend', {}, label), field('Stamp', stamp), field('VM Clouds plan', plan), field('Cloud', cloud, 'The VMM cloud the plan is bound to.'), status),
    value: () => ({ StampId: stamp.value, PlanId: plan.value, CloudId: cloud.value }),
  };
}

/** `#/pairs/new`. */
export async function newPairView(main, api) {
  const [stamps, policies] = await Promise.all([api.get('/stamps'), api.get('/policies')]);
  const primary = sideChooser(api, 'Primary (where the VMs run)', stamps, 'primary');
  const recovery = sideChooser(api, 'Recovery (where they fail over to)', stamps, 'recovery');
  const policy = select(policies.map((p) => [p.Name, p.Name]), policies[0]?.Name, { id: 'pair-policy' });
  const status = h('div', { class: 'form-status' });
  const form = h('form', { 'aria-label': 'New cloud pair' }, primary.element, recovery.element,
    field('Replication policy', policy, policies.length ? undefined : 'Create a policy first.'),
    status, h('button', { type: 'submit', class: 'primary' }, 'Create the pair'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { Primary: primary.value(), Recovery: recovery.value(), Policy: policy.value };
    if (!body.Primary.CloudId || !body.Recovery.CloudId || !body.Policy) {
      replace(status, notice('Choose a stamp, plan and cloud on both sides, and a policy.'));
      return;
    }
    replace(status, h('p', { role: 'status' }, 'Checking both stamps…'));
    try {
      const pair = await api.post('/cloud-pairs', body);
      location.hash = `#/pairs/${pair.Id}`;
    } catch (err) { replace(status, notice(err.message)); }
  });
  replace(main, h('p', {}, h('a', { href: '#/pairs' }, '← All cloud pairs')), h('h2', {}, 'New cloud pair'),
    h('p', {}, 'Pairs a plan and cloud of one stamp with a plan and cloud of the other; wapdr then pairs them in the vault.'), form);
}

function networkOptions(networks) {
  return [['', 'Choose a network'], ...networks.map((n) => [n.Id, `${n.Name}${n.IsolationType ? ` (${n.IsolationType})` : ''}`])];
}

/** `#/pairs/{id}`: the pair's state (followed while Pending), verification, network mappings. */
export async function pairView(main, api, id, signal) {
  const stateBox = h('div', { 'aria-live': 'polite' });
  const verifyBox = h('div', { 'aria-live': 'polite' });
  const mappingBox = h('div');
  const status = h('div', { class: 'form-status' });
  const pair = await api.get(`/cloud-pairs/${id}`);
  replace(main, h('p', {}, h('a', { href: '#/pairs' }, '← All cloud pairs')),
    h('h2', {}, `Cloud pair ${pair.Primary.PlanName || pair.Primary.PlanId} → ${pair.Recovery.PlanName || pair.Recovery.PlanId}`),
    stateBox,
    h('div', { class: 'actions' },
      button('Verify both stamps', async (event) => {
        const btn = event.currentTarget;
        btn.disabled = true;
        replace(verifyBox, h('p', { role: 'status' }, 'Verifying…'));
        try {
          const reports = await Promise.all([pair.Primary.StampId, pair.Recovery.StampId].map((s) => api.post(`/stamps/${s}/verify`)));
          replace(verifyBox, reports.map(checks));
        } catch (err) { replace(verifyBox, notice(err.message)); }
        btn.disabled = false;
      }),
      button('Delete the pair', async () => {
        try { await api.del(`/cloud-pairs/${id}`); location.hash = '#/pairs'; } catch (err) { replace(status, notice(err.message)); }
      }, { class: 'danger' })),
    status, verifyBox, mappingBox);
  await poll(async () => {
    const p = await api.get(`/cloud-pairs/${id}`);
    rerender(stateBox, () => facts([['State', badge(p.State)], ['Primary', sideText(p.Primary)], ['Recovery', sideText(p.Recovery)], ['Policy', p.Policy], ['Error', p.Error || '—']], { id: 'pair-facts' }));
    return p.State !== 'Pending';
  }, 1000, signal);
  if (signal.aborted) return;
  try {
    const [mappings, primaryNets, recoveryNets] = await Promise.all([
      api.get(`/cloud-pairs/${id}/network-mappings`),
      api.get(`/stamps/${pair.Primary.StampId}/networks`),
      api.get(`/stamps/${pair.Recovery.StampId}/networks`),
    ]);
    replace(mappingBox, mappingEditor(api, id, mappings, primaryNets, recoveryNets));
  } catch (err) {
    replace(mappingBox, h('h3', {}, 'Network mappings'), notice(err.message));
  }
}

function mappingEditor(api, id, mappings, primaryNets, recoveryNets) {
  const rows = mappings.Mappings.map((m) => ({ ...m }));
  const list = h('div');
  const status = h('div', { class: 'form-status' });
  const draw = () => replace(list, rows.length ? rows.map((row, i) => h('div', { class: 'inline mapping' },
    h('label', { for: `map-p-${i}` }, `Mapping ${i + 1}: primary network`),
    select(networkOptions(primaryNets), row.PrimaryNetworkId, { id: `map-p-${i}`, on: { change: (e) => { row.PrimaryNetworkId = e.target.value; } } }),
    h('label', { for: `map-r-${i}` }, 'recovery network'),
    select(networkOptions(recoveryNets), row.RecoveryNetworkId, { id: `map-r-${i}`, on: { change: (e) => { row.RecoveryNetworkId = e.target.value; } } }),
    button(`Remove mapping ${i + 1}`, () => { rows.splice(i, 1); draw(); }, { class: 'small danger' }))) : h('p', { class: 'muted' }, 'No mappings: wapdr maps the tenant networks it recreates by itself.'));
  draw();
  const form = h('form', { 'aria-labelledby': 'mappings-title' },
    h('h3', { id: 'mappings-title' }, 'Network mappings'), list,
    h('div', { class: 'actions' },
      button('Add a mapping', () => { rows.push({ PrimaryNetworkId: '', RecoveryNetworkId: '' }); draw(); list.querySelector(`#map-p-${rows.length - 1}`)?.focus(); }),
      h('button', { type: 'submit', class: 'primary' }, 'Save the mappings')),
    status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await api.put(`/cloud-pairs/${id}/network-mappings`, { Mappings: rows.filter((r) => r.PrimaryNetworkId && r.RecoveryNetworkId) });
      replace(status, notice('Mappings saved.', 'ok'));
    } catch (err) { replace(status, notice(err.message)); }
  });
  const testNet = select([['', 'None'], ...recoveryNets.map((n) => [n.Id, n.Name])], mappings.TestNetworkId || '', { id: 'test-network' });
  const testStatus = h('div', { class: 'form-status' });
  const testForm = h('form', { 'aria-labelledby': 'test-net-title' },
    h('h3', { id: 'test-net-title' }, 'Test failover network'),
    field('Network drills attach to on the recovery stamp', testNet),
    h('button', { type: 'submit' }, 'Save the test network'), testStatus);
  testForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await api.put(`/cloud-pairs/${id}/test-network`, { NetworkId: testNet.value || null });
      replace(testStatus, notice('Test network saved.', 'ok'));
    } catch (err) { replace(testStatus, notice(err.message)); }
  });
  return h('div', {}, form, testForm);
}
