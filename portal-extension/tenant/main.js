// The standalone tenant page: signs the person in (tenant endpoint credentials, principal and
// subscription, kept in this tab's sessionStorage) and mounts the tenant UI with a client that
// sends them as WAP's tenant API pass-through would.

import { h, replace } from '../shared/dom.js';
import { signIn, signOutButton } from '../shared/session.js';
import { mount } from './app.js';

const main = document.getElementById('main');
const { session, api } = await signIn('tenant', main);
replace(document.getElementById('identity'),
  h('span', {}, `${session.principal} · subscription `, h('code', {}, session.subscriptionId)), ' ', signOutButton('tenant'));
mount({ api, main, nav: document.getElementById('nav'), bannerSlot: document.getElementById('banner-slot') });
