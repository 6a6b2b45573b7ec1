// The standalone admin page: signs the provider in (admin endpoint credentials and the name
// recorded on acknowledgements, kept in this tab's sessionStorage) and mounts the admin UI.

import { h, replace } from '../shared/dom.js';
import { signIn, signOutButton } from '../shared/session.js';
import { mount } from './app.js';

const main = document.getElementById('main');
const { session, api } = await signIn('admin', main);
replace(document.getElementById('identity'), h('span', {}, `Signed in as ${session.operator}`), ' ', signOutButton('admin'));
mount({ api, main, nav: document.getElementById('nav'), operator: session.operator });
