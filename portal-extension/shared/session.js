// Standalone sign-in: the pages hold no secret, so the person gives the tenant or admin endpoint's
// Basic credentials (and, for the tenant page, the principal and subscription that WAP's tenant API
// pass-through would supply). They are checked with one API call and kept in sessionStorage only:
// per browser tab, gone when the tab closes, never in localStorage or a cookie. Inside WAP this
// module is not used: WAP signs the person in and its API forwards the calls.

import { adminClient, tenantClient } from './api.js';
import { button, field, h, notice, replace } from './dom.js';

const KEY = (kind) => `wapdr.portal.${kind}`;

const FIELDS = {
  tenant: [
    ['user', 'Tenant endpoint user name', 'text', 'username', 'The user name of wapdr\'s tenant endpoint.'],
    ['password', 'Tenant endpoint password', 'password', 'current-password'],
    ['principal', 'Your user name (principal)', 'text', 'email', 'As WAP sends it in x-ms-principal-id: the subscription\'s admin or a co-admin.'],
    ['subscriptionId', 'Subscription id', 'text', 'off', 'The GUID of the subscription with disaster recovery.'],
  ],
  admin: [
    ['user', 'Admin endpoint user name', 'text', 'username'],
    ['password', 'Admin endpoint password', 'password', 'current-password'],
    ['operator', 'Your name', 'text', 'name', 'Recorded on the manual steps you acknowledge and the jobs you cancel.'],
  ],
};

function clientFor(kind, session) {
  return kind === 'tenant' ? tenantClient(session) : adminClient(session);
}

// One cheap call that needs every credential the page will use.
function check(kind, api) {
  return kind === 'tenant' ? api.get('/dr') : api.get('/site-health');
}

/** The stored session of `kind`, or null. */
export function storedSession(kind) {
  try {
    const raw = sessionStorage.getItem(KEY(kind));
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

/** Forgets the session and shows the sign-in form again. */
export function signOut(kind) {
  sessionStorage.removeItem(KEY(kind));
  location.hash = '';
  location.reload();
}

/**
 * Resolves with `{ session, api }` once the person is signed in: at once when this tab already
 * holds a session the API still accepts, else after the form in `root` is filled and accepted.
 */
export async function signIn(kind, root) {
  const stored = storedSession(kind);
  if (stored) {
    const api = clientFor(kind, stored);
    try {
      await check(kind, api);
      return { session: stored, api };
    } catch {
      sessionStorage.removeItem(KEY(kind));
    }
  }
  return new Promise((resolve) => {
    const inputs = {};
    const status = h('div', { class: 'form-status' });
    const form = h('form', { class: 'sign-in', 'aria-labelledby': 'sign-in-title', novalidate: true },
      h('h2', { id: 'sign-in-title', tabindex: '-1' }, 'Sign in'),
      h('p', {}, kind === 'tenant'
        ? 'Standalone, this page calls wapdr\'s tenant API directly. Give its credentials and who you are; they stay in this browser tab only.'
        : 'Standalone, this page calls wapdr\'s admin API directly. Give its credentials; they stay in this browser tab only.'),
      FIELDS[kind].map(([name, label, type, autocomplete, hint]) => {
        inputs[name] = h('input', { type, name, autocomplete, required: name !== 'operator', id: `sign-in-${name}` });
        return field(label, inputs[name], hint);
      }),
      status,
      h('button', { type: 'submit', class: 'primary' }, 'Sign in'));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const session = Object.fromEntries(Object.entries(inputs).map(([k, input]) => [k, input.value.trim()]));
      session.password = inputs.password.value;
      const missing = FIELDS[kind].find(([name, label]) => name !== 'operator' && !session[name]);
      if (missing) {
        replace(status, notice(`${missing[1]} is required.`));
        inputs[missing[0]].focus();
        return;
      }
      if (kind === 'admin' && !session.operator) session.operator = session.user;
      const api = clientFor(kind, session);
      replace(status, h('p', { role: 'status' }, 'Checking…'));
      try {
        await check(kind, api);
      } catch (err) {
        replace(status, notice(err.status === 404
          ? 'No such subscription for this principal: check the subscription id and your user name.'
          : err.message));
        form.querySelector('input').focus();
        return;
      }
      sessionStorage.setItem(KEY(kind), JSON.stringify(session));
      resolve({ session, api });
    });
    replace(root, form);
    form.querySelector('h2').focus();
  });
}

/** The header's "Sign out" button. */
export function signOutButton(kind) {
  return button('Sign out', () => signOut(kind), { class: 'link' });
}
