// The provider's disaster-recovery UI: navigation and routes over the setup views (stamps and
// site health, cloud pairs and network mappings, policies), the DR subscriptions with their
// drills and failovers, jobs with live progress and acknowledgements, reports with their
// timeline, and runbooks. It needs only a client for the admin API (`api.get('/stamps')` →
// `GET /admin/stamps`), so WAP's admin extension and the standalone page mount the same code.

import { query } from '../shared/api.js';
import { field, h, replace, rerender, route, select } from '../shared/dom.js';
import { badge, shortId, table, timeEl } from '../shared/format.js';
import { jobView, jobsView } from '../shared/jobs.js';
import { reportView, reportsView } from '../shared/reports.js';
import { runbookView, runbooksView } from './runbooks.js';
import { newPairView, pairView, pairsView, policiesView, stampFormView, stampView, stampsView } from './setup.js';
import { subscriptionPlanView, subscriptionView, subscriptionsView } from './subscriptions.js';

const NAV = [
  ['#/stamps', 'Stamps'], ['#/pairs', 'Cloud pairs'], ['#/policies', 'Policies'], ['#/subscriptions', 'DR subscriptions'],
  ['#/jobs', 'Jobs'], ['#/reports', 'Reports'], ['#/runbooks', 'Runbooks'],
];

const JOB_STATES = ['Pending', 'Running', 'Waiting', 'Succeeded', 'Failed', 'Cancelled'];
const KINDS = ['test', 'testCleanup', 'planned', 'unplanned', 'commit', 'rollback', 'reprotect', 'failback'];

/** Mounts the admin UI; `operator` is the name recorded on acknowledgements and cancels. */
export function mount({ api, main, nav, operator }) {
  replace(nav, h('ul', {}, NAV.map(([href, label]) => h('li', {}, h('a', { href }, label)))));
  nav.hidden = false;
  // The list filters live as long as the page, so coming back to a list keeps them.
  const jobFilters = { state: '', workflow: '', subscription: '' };
  const reportFilters = { subscription: '', kind: '' };
  let router = null;

  const filterForm = (label, values, inputs) => {
    const form = h('form', { class: 'filters', 'aria-label': label },
      Object.entries(inputs).map(([key, [text, input]]) => { input.value = values[key]; return field(text, input); }),
      h('div', { class: 'field' }, h('button', { type: 'submit', class: 'primary' }, 'Apply the filters')));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      for (const [key, [, input]] of Object.entries(inputs)) values[key] = input.value.trim();
      router.refresh();
    });
    return form;
  };

  const jobs = (target, _m, signal) => jobsView(target, api, signal, {
    filters: jobFilters,
    showSubscription: true,
    controls: filterForm('Job filters', jobFilters, {
      state: ['State', select([['', 'Any'], ...JOB_STATES.map((s) => [s, s])], '')],
      workflow: ['Workflow', h('input', { type: 'text', list: 'workflows' })],
      subscription: ['Subscription id', h('input', { type: 'text' })],
    }),
  });

  // A site failover's children: each subscription's own failover job.
  const siteChildren = async (job, box) => {
    if (job.Workflow !== 'site_failover') return;
    const children = await api.get(`/jobs${query({ parent: job.Id, limit: 1000 })}`);
    rerender(box, () => h('section', { 'aria-labelledby': 'children-title' },
      h('h3', { id: 'children-title' }, 'Subscriptions in this site failover'),
      table('Child jobs', ['Job', 'State', 'Subscription', 'Created', 'Finished'], children.map((c) => [
        h('a', { href: `#/jobs/${c.Id}` }, `${c.Workflow} ${shortId(c.Id)}`), badge(c.State), c.SubscriptionId ? h('code', {}, c.SubscriptionId) : '—', timeEl(c.CreatedAt), timeEl(c.FinishedAt),
      ]), 'No subscription has started yet.')));
  };

  router = route(main, [
    [/^\/stamps$/, (t, _m, s) => stampsView(t, api, s)],
    [/^\/stamps\/new$/, (t) => stampFormView(t, api, null)],
    [/^\/stamps\/([^/]+)\/edit$/, (t, m) => stampFormView(t, api, m[1])],
    [/^\/stamps\/([^/]+)$/, (t, m, s) => stampView(t, api, m[1], s)],
    [/^\/pairs$/, (t, _m, s) => pairsView(t, api, s)],
    [/^\/pairs\/new$/, (t) => newPairView(t, api)],
    [/^\/pairs\/([^/]+)$/, (t, m, s) => pairView(t, api, m[1], s)],
    [/^\/policies(?:\/(.+))?$/, (t, m) => policiesView(t, api, m[1] ? decodeURIComponent(m[1]) : null)],
    [/^\/subscriptions$/, (t) => subscriptionsView(t, api)],
    [/^\/subscriptions\/([^/]+)$/, (t, m, s) => subscriptionView(t, api, m[1], s)],
    [/^\/subscriptions\/([^/]+)\/plans\/([^/]+)(\/edit)?$/, (t, m) => subscriptionPlanView(t, api, m[1], m[2], Boolean(m[3]))],
    [/^\/jobs$/, jobs],
    [/^\/jobs\/([^/]+)$/, (t, m, s) => jobView(t, api, m[1], s, {
      ackBody: (comment) => ({ by: operator, comment: comment || null }),
      cancel: (job) => api.post(`/jobs/${job.Id}/cancel`, { by: operator }),
      extra: siteChildren,
    })],
    [/^\/reports$/, (t) => {
      const controls = filterForm('Report filters', reportFilters, {
        subscription: ['Subscription id', h('input', { type: 'text' })],
        kind: ['Operation', select([['', 'Any'], ...KINDS.map((k) => [k, k])], '')],
      });
      return reportsView(t, api, { filters: { ...reportFilters, limit: 100 }, showSubscription: true, intro: controls });
    }],
    [/^\/reports\/([^/]+)$/, (t, m) => reportView(t, api, m[1])],
    [/^\/runbooks$/, (t, _m, s) => runbooksView(t, api, s)],
    [/^\/runbooks\/([^/]+)$/, (t, m) => runbookView(t, api, decodeURIComponent(m[1]))],
  ], '/stamps');
  return router;
}
