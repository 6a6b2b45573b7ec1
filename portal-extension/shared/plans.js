// Recovery plans, for the tenant and the admin: the list, one plan as it will run (groups in order
// with their delays, actions and VMs by name) and the editor (name, description, groups with their
// VMs, delay and manual or script actions). The default plan is wapdr's and is never editable;
// whether the person may edit the others is the caller's `canEdit`.

import { button, field, h, notice, replace } from './dom.js';
import { table, timeEl } from './format.js';

function actionText(action) {
  if (action.Kind === 'Manual') return `Manual step: ${action.Prompt}`;
  if (action.Kind === 'Runbook') return `Runbook ${action.Runbook}`;
  return `Script ${action.Url}`;
}

/** The list of plans with links to each. */
export function planTable(plans, base = '#/plans') {
  return table('Recovery plans', ['Plan', 'Groups', 'VMs', 'Updated'], plans.map((p) => [
    h('a', { href: `${base}/${p.Id}` }, p.IsDefault ? `${p.Name} (default)` : p.Name),
    String(p.Groups.length), String(p.Groups.reduce((n, g) => n + g.Vms.length, 0)), timeEl(p.UpdatedAt),
  ]), 'No recovery plans.');
}

/** One plan as it will run; `vmNames` maps VM ids to names. */
export function planDetail(plan, vmNames) {
  return h('div', { class: 'plan' },
    plan.Description ? h('p', {}, plan.Description) : null,
    h('ol', { class: 'plan-groups' }, plan.Groups.map((g, i) => h('li', {},
      h('h3', {}, g.Name),
      i > 0 && g.DelaySeconds ? h('p', {}, `Waits ${g.DelaySeconds} s after the previous group.`) : null,
      g.PreActions.length ? h('p', {}, 'Before its VMs: ', g.PreActions.map(actionText).join('; ')) : null,
      h('ul', {}, g.Vms.map((id) => h('li', {}, vmNames.get(id) || id))),
      g.PostActions.length ? h('p', {}, 'After its VMs: ', g.PostActions.map(actionText).join('; ')) : null))),
    h('p', { class: 'muted' }, 'Protected VMs the plan does not name fail over last, in a group "Not in plan".'));
}

// The members the API reads for each kind of action.
function actionBody(a) {
  if (a.Kind === 'Manual') return { Kind: 'Manual', Prompt: a.Prompt };
  if (a.Kind === 'Runbook') return { Kind: 'Runbook', Runbook: a.Runbook };
  const body = { Kind: 'Script', Url: a.Url };
  if (a.TimeoutSeconds) body.TimeoutSeconds = a.TimeoutSeconds;
  if (a.SuccessStatusCodes?.length) body.SuccessStatusCodes = a.SuccessStatusCodes;
  if (a.SuccessBodyContains) body.SuccessBodyContains = a.SuccessBodyContains;
  return body;
}

/**
 * The plan editor. `plan` is null for a new plan; `vms` the subscription's VMs (`Id`, `Name`);
 * `save(body)` writes it and resolves with the saved plan; `done(plan)` runs after a save.
 */
export function planEditor({ plan, vms, save, done }) {
  const model = {
    Name: plan?.Name || '',
    Description: plan?.Description || '',
    Groups: (plan?.Groups || [{ Name: 'Group 1', Vms: [], DelaySeconds: 0, PreActions: [], PostActions: [] }])
      .map((g) => ({ ...g, Vms: [...g.Vms], PreActions: [...g.PreActions], PostActions: [...g.PostActions] })),
  };
  const form = h('form', { class: 'plan-editor', 'aria-label': plan ? `Edit ${plan.Name}` : 'New recovery plan' });
  const status = h('div', { class: 'form-status' });
  let focusAfter = null;

  const draw = () => {
    const name = h('input', { type: 'text', value: model.Name, required: true, on: { input: (e) => { model.Name = e.target.value; } } });
    const description = h('textarea', { rows: '2', on: { input: (e) => { model.Description = e.target.value; } } });
    description.value = model.Description;
    replace(form,
      field('Plan name', name),
      field('Description', description),
      model.Groups.map((group, gi) => drawGroup(group, gi)),
      h('div', { class: 'actions' },
        button('Add a group', () => {
          model.Groups.push({ Name: `Group ${model.Groups.length + 1}`, Vms: [], DelaySeconds: 0, PreActions: [], PostActions: [] });
          focusAfter = `group-name-${model.Groups.length - 1}`;
          draw();
        }),
        h('button', { type: 'submit', class: 'primary' }, 'Save the plan')),
      status);
    if (focusAfter) { form.querySelector(`#${focusAfter}`)?.focus(); focusAfter = null; }
  };

  const drawActions = (group, gi, key, label) => {
    const list = group[key];
    const promptId = `action-${gi}-${key}`;
    const kindSelect = h('select', { id: `${promptId}-kind` }, h('option', { value: 'Manual' }, 'Manual step (prompt)'), h('option', { value: 'Script' }, 'Script webhook (URL)'), h('option', { value: 'Runbook' }, 'Runbook (name)'));
    const text = h('input', { type: 'text', id: promptId });
    return h('fieldset', { class: 'plan-actions' },
      h('legend', {}, label),
      list.length ? h('ul', {}, list.map((a, ai) => h('li', {}, actionText(a), ' ',
        button('Remove', () => { list.splice(ai, 1); focusAfter = `${promptId}-kind`; draw(); }, { class: 'link', 'aria-label': `Remove ${actionText(a)}` })))) : h('p', { class: 'muted' }, 'None.'),
      h('div', { class: 'inline' },
        h('label', { for: kindSelect.id }, 'Kind'), kindSelect,
        h('label', { for: promptId }, 'Prompt, URL or runbook'), text,
        button('Add', () => {
          const value = text.value.trim();
          if (!value) { text.focus(); return; }
          const kind = kindSelect.value;
          list.push(kind === 'Manual' ? { Kind: 'Manual', Prompt: value } : kind === 'Script' ? { Kind: 'Script', Url: value } : { Kind: 'Runbook', Runbook: value });
          draw();
        }, { 'aria-label': `Add the action ${key === 'PreActions' ? 'before' : 'after'} the VMs of group ${gi + 1}` })));
  };

  const drawGroup = (group, gi) => {
    const nameId = `group-name-${gi}`;
    return h('fieldset', { class: 'plan-group' },
      h('legend', {}, `Group ${gi + 1}: ${group.Name}`),
      field('Group name', h('input', { type: 'text', id: nameId, value: group.Name, on: { input: (e) => { group.Name = e.target.value; } } })),
      gi > 0 ? field('Delay before the group (seconds)', h('input', { type: 'number', min: '0', value: String(group.DelaySeconds || 0), on: { input: (e) => { group.DelaySeconds = Number(e.target.value) || 0; } } })) : null,
      h('fieldset', { class: 'vm-choice' }, h('legend', {}, 'VMs in this group'),
        vms.length ? vms.map((vm) => {
          const id = `vm-${gi}-${vm.Id}`;
          return h('div', { class: 'check' },
            h('input', { type: 'checkbox', id, checked: group.Vms.includes(vm.Id), on: { change: (e) => {
              // A VM is in one group only: choosing it here takes it out of the others.
              for (const other of model.Groups) other.Vms = other.Vms.filter((v) => v !== vm.Id);
              if (e.target.checked) group.Vms.push(vm.Id);
              focusAfter = id;
              draw();
            } } }),
            h('label', { for: id }, vm.Name));
        }) : h('p', { class: 'muted' }, 'The subscription has no VMs.')),
      drawActions(group, gi, 'PreActions', 'Before its VMs'),
      drawActions(group, gi, 'PostActions', 'After its VMs'),
      model.Groups.length > 1 ? button(`Remove group ${group.Name}`, () => { model.Groups.splice(gi, 1); draw(); }, { class: 'danger' }) : null);
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {
      Name: model.Name.trim(),
      Description: model.Description.trim() || null,
      Groups: model.Groups.map((g) => ({
        Name: g.Name.trim(), Vms: g.Vms, DelaySeconds: g.DelaySeconds || 0,
        PreActions: g.PreActions.map(actionBody), PostActions: g.PostActions.map(actionBody),
      })),
    };
    if (plan) body.Version = plan.Version;
    replace(status, h('p', { role: 'status' }, 'Saving…'));
    try {
      const saved = await save(body);
      replace(status, notice('Saved.', 'ok'));
      done(saved);
    } catch (err) {
      replace(status, notice(err.message));
    }
  });
  draw();
  return form;
}
