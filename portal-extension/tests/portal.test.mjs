// Browser scenarios of the portal, run by `node --test` against a wapdr on the lab that
// tests/portal.rs starts (it passes URLs and credentials in WAPDR_* variables): a tenant sees
// every VM protected, runs a drill with the keyboard and opens its report; a provider runs the
// site heartbeat, creates a cloud pair, fails the subscription over by a plan with a manual step,
// acknowledges it, watches the job to its end and the tenant's banner switches. Every view is
// checked for labelled controls and readable contrast; CSP violations and script errors fail the
// run. Screenshots go to WAPDR_SCREENSHOTS.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these through \`cargo test --test portal\``);
  return value;
}

const URL = env('WAPDR_URL');
const SHOTS = env('WAPDR_SCREENSHOTS');
const VMS = Number(env('WAPDR_VM_COUNT'));
const PRIMARY = env('WAPDR_PRIMARY_STAMP');
const RECOVERY = env('WAPDR_RECOVERY_STAMP');
const LONG = 90_000;

let browser;
let tenant;
let provider;
const problems = [];

// The flags this machine's chromium needs: no sandbox as root, no GPU, nothing phoning home.
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function newPage() {
  // Each context is a fresh profile: its own sessionStorage, so tenant and provider sign in apart.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on('pageerror', (err) => problems.push(`script error: ${err.message}`));
  page.on('console', (msg) => {
    // A refused API call shows in the console as a failed load; the UI reports those itself.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) problems.push(`console: ${msg.text()}`);
  });
  return page;
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: env('WAPDR_CHROMIUM'), headless: true, args: FLAGS });
  tenant = await newPage();
  provider = await newPage();
});

after(async () => {
  await browser?.close();
});

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, name), fullPage: true });
}

/** Every form control has a label and every button a name, on what the page shows now. */
async function assertLabelled(page, where) {
  const unlabelled = await page.evaluate(() => {
    const missing = [];
    for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
      const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
      if (!named) missing.push(el.outerHTML.slice(0, 80));
    }
    for (const el of document.querySelectorAll('button, a[href]')) {
      if (!(el.textContent.trim() || el.getAttribute('aria-label'))) missing.push(el.outerHTML.slice(0, 80));
    }
    return missing;
  });
  assert.deepEqual(unlabelled, [], `${where}: controls without a label or name`);
}

/** Every visible text has at least 4.5:1 contrast against the background it sits on. */
async function assertContrast(page, where) {
  const poor = await page.evaluate(() => {
    const rgb = (text) => (text.match(/[\d.]+/g) || []).map(Number);
    const luminance = ([r, g, b]) => {
      const c = [r, g, b].map((v) => { const s = v / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; });
      return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    };
    const background = (el) => {
      for (let node = el; node; node = node.parentElement) {
        const parts = rgb(getComputedStyle(node).backgroundColor);
        if (parts.length === 3 || (parts.length === 4 && parts[3] > 0.9)) return parts.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const found = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement;
      if (!node.textContent.trim() || !el || !el.offsetParent || el.closest('svg, .visually-hidden, option')) continue;
      const style = getComputedStyle(el);
      if (Number(style.opacity) < 1 || el.closest('button:disabled')) continue;
      const [fg, bg] = [luminance(rgb(style.color).slice(0, 3)), luminance(background(el))];
      const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
      if (ratio < 4.5) found.push(`${node.textContent.trim().slice(0, 40)} (${ratio.toFixed(2)}:1)`);
    }
    return found;
  });
  assert.deepEqual(poor, [], `${where}: text below 4.5:1 contrast`);
}

async function checkView(page, where) {
  await assertLabelled(page, where);
  await assertContrast(page, where);
}

/** Waits until the job view shows the job in a final state; returns that state. */
async function jobEnds(page) {
  const state = page.locator('.job-state');
  await state.getByText(/^(Succeeded|Failed|Cancelled)$/).waitFor({ timeout: LONG });
  return (await state.textContent()).trim();
}

test('a tenant sees every VM protected, runs a drill with the keyboard and opens its report', async () => {
  const page = tenant;
  await page.goto(`${URL}/portal/tenant/`);
  await checkView(page, 'tenant sign-in');
  await page.getByLabel('Tenant endpoint user name').fill(env('WAPDR_TENANT_USER'));
  await page.getByLabel('Tenant endpoint password').fill(env('WAPDR_TENANT_PASSWORD'));
  await page.getByLabel('Your user name (principal)').fill(env('WAPDR_TENANT_PRINCIPAL'));
  await page.getByLabel('Subscription id').fill(env('WAPDR_SUBSCRIPTION_ID'));
  await page.getByRole('button', { name: 'Sign in' }).click();

  const banner = page.locator('#portal-banner');
  await banner.getByText(`Your VMs run on stamp ${PRIMARY}.`).waitFor();
  assert.equal(await banner.getByRole('link').getAttribute('href'), env('WAPDR_PRIMARY_PORTAL'));
  await page.locator('#dr-status').getByText(`${VMS} of ${VMS} VMs protected`).waitFor();
  await checkView(page, 'tenant status');

  await page.getByRole('link', { name: 'Virtual machines' }).click();
  await page.locator('#vm-summary').getByText(`${VMS} of ${VMS} VMs protected`).waitFor();
  const rows = page.locator('main table tbody tr');
  assert.equal(await rows.count(), VMS);
  for (let i = 0; i < VMS; i += 1) {
    assert.equal((await rows.nth(i).locator('td').first().textContent()).trim(), 'Protected');
  }
  await checkView(page, 'tenant VMs');
  await shot(page, 'tenant-vms.png');

  // The drill, by keyboard: open the dialog, Escape closes it and gives the focus back, open it
  // again and start it.
  await page.getByRole('link', { name: 'Status' }).click();
  const drill = page.getByRole('button', { name: 'Run a drill' });
  await drill.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: /Run a drill/ });
  await dialog.waitFor();
  await checkView(page, 'drill dialog');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Run a drill');
  await page.keyboard.press('Enter');
  await dialog.getByLabel(/^Reason/).fill('Quarterly drill');
  await dialog.getByRole('button', { name: 'Start' }).focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(/#\/jobs\//);
  assert.equal(await jobEnds(page), 'Succeeded');
  await page.locator('.progress .summary').getByText(`${VMS} of ${VMS} VM operations done`).waitFor();
  await checkView(page, 'tenant drill job');
  await shot(page, 'tenant-drill-job.png');

  await page.getByRole('link', { name: 'Open the report' }).click();
  await page.getByRole('heading', { name: 'Drill report' }).waitFor();
  await page.locator('svg.timeline rect.bar.vm').first().waitFor();
  assert.equal(await page.locator('svg.timeline rect.bar.vm').count(), VMS);
  await checkView(page, 'tenant drill report');
  await shot(page, 'tenant-drill-report.png');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download the HTML report' }).click(),
  ]);
  const html = readFileSync(await download.path(), 'utf8');
  assert.match(html, /<!DOCTYPE html>/);
  assert.match(html, /Timeline/);

  // The drill is cleaned up, so the provider can fail over next.
  await page.getByRole('link', { name: 'Status' }).click();
  await page.getByRole('button', { name: 'Clean up the drill' }).click();
  await page.getByRole('dialog', { name: /Clean up the drill/ }).getByRole('button', { name: 'Start' }).click();
  await page.waitForURL(/#\/jobs\//);
  assert.equal(await jobEnds(page), 'Succeeded');
});

test('a provider pairs clouds, fails the subscription over by plan, acknowledges its manual step and the tenant is told', async () => {
  const page = provider;
  await page.goto(`${URL}/portal/admin/`);
  await page.getByLabel('Admin endpoint user name').fill(env('WAPDR_ADMIN_USER'));
  await page.getByLabel('Admin endpoint password').fill(env('WAPDR_ADMIN_PASSWORD'));
  await page.getByLabel('Your name').fill('Olivia Operator');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Stamps and site health' }).waitFor();

  // Site health comes from the heartbeat runbook: start it now rather than wait a minute.
  await page.getByRole('link', { name: 'Runbooks' }).click();
  await page.getByRole('link', { name: 'site-heartbeat' }).click();
  await page.getByRole('button', { name: 'Start site-heartbeat' }).click();
  await page.waitForURL(/#\/jobs\//);
  assert.equal(await jobEnds(page), 'Succeeded');
  await page.getByRole('link', { name: 'Stamps' }).click();
  for (const stamp of [PRIMARY, RECOVERY]) {
    const row = page.locator('main tbody tr').filter({ has: page.getByRole('rowheader', { name: stamp, exact: true }) });
    await row.getByText('Up', { exact: true }).waitFor();
  }
  await checkView(page, 'admin stamps');
  await shot(page, 'admin-stamps.png');
  await page.getByRole('link', { name: PRIMARY, exact: true }).click();
  await page.getByRole('heading', { name: 'History' }).waitFor();
  await checkView(page, 'admin stamp');

  // A new cloud pair, chosen from the stamps' live plans, followed until the vault pairs it.
  const [primaryPlan, recoveryPlan] = env('WAPDR_NEW_PAIR_PLANS').split(',');
  await page.getByRole('link', { name: 'Cloud pairs' }).click();
  await page.getByRole('link', { name: 'New cloud pair' }).click();
  await page.locator('#primary-stamp').selectOption({ label: PRIMARY });
  await page.locator('#primary-plan').selectOption(primaryPlan);
  await page.locator('#recovery-stamp').selectOption({ label: RECOVERY });
  await page.locator('#recovery-plan').selectOption(recoveryPlan);
  await page.locator('#pair-policy').selectOption(env('WAPDR_POLICY'));
  await checkView(page, 'new cloud pair');
  await page.getByRole('button', { name: 'Create the pair' }).click();
  await page.waitForURL(/#\/pairs\/[0-9a-f-]+$/);
  await page.locator('#pair-facts').getByText('Paired', { exact: true }).waitFor({ timeout: LONG });
  await page.getByRole('heading', { name: 'Network mappings' }).waitFor();
  await checkView(page, 'cloud pair');
  await shot(page, 'admin-pair-paired.png');

  // A planned failover of the tenant's subscription by its "Databases first" plan.
  await page.getByRole('link', { name: 'DR subscriptions' }).click();
  await page.getByRole('link', { name: env('WAPDR_SUBSCRIPTION_ID') }).click();
  await page.getByRole('button', { name: 'Planned failover', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: /Planned failover/ });
  await dialog.getByLabel('Recovery plan').selectOption({ label: env('WAPDR_FAILOVER_PLAN') });
  await dialog.getByLabel(/^Reason/).fill('Move to the recovery site for maintenance');
  await dialog.getByRole('button', { name: 'Start' }).click();
  await page.waitForURL(/#\/jobs\//);

  const ack = page.getByRole('button', { name: 'Acknowledge' });
  await ack.waitFor({ timeout: LONG });
  await page.getByText('Check the databases are consistent').first().waitFor();
  await page.getByRole('region', { name: 'Group Databases' }).getByText('Succeeded').first().waitFor();
  await checkView(page, 'failover waiting');
  await shot(page, 'admin-failover-waiting.png');
  await page.getByLabel('Comment (optional)').fill('Databases checked');
  await ack.click();
  assert.equal(await jobEnds(page), 'Succeeded');
  await page.locator('.progress .summary').getByText(`${VMS} of ${VMS} VM operations done`).waitFor();
  await page.getByText('Acknowledged by Olivia Operator: Databases checked').waitFor();
  await page.locator('dl.facts').getByText('Olivia Operator (api)').waitFor();
  await shot(page, 'admin-failover-done.png');

  await page.getByRole('link', { name: 'Open the report' }).click();
  await page.getByRole('heading', { name: 'Planned failover report' }).waitFor();
  await page.locator('svg.timeline rect.bar.manual').waitFor();
  await checkView(page, 'failover report');
  await shot(page, 'admin-failover-report.png');

  // The tenant's page follows by itself: the banner now names the recovery stamp's portal.
  const banner = tenant.locator('#portal-banner');
  await banner.getByText(`Your VMs now run on stamp ${RECOVERY} after a failover.`).waitFor({ timeout: LONG });
  assert.equal(await banner.getByRole('link').getAttribute('href'), env('WAPDR_RECOVERY_PORTAL'));
  await checkView(tenant, 'tenant banner after failover');
  await shot(tenant, 'tenant-banner-after-failover.png');
});

/** Opens `#/route` and waits for its view: a heading and no error in its place. */
async function visit(page, route, heading) {
  await page.evaluate((hash) => { location.hash = hash; }, `#${route}`);
  try {
    await page.getByRole('heading', { name: heading }).first().waitFor();
  } catch (err) {
    await shot(page, `failed-${route.replaceAll('/', '_')}.png`);
    throw new Error(`${route}: ${await page.locator('main').innerText()}`, { cause: err });
  }
  assert.equal(await page.getByRole('heading', { name: 'Something went wrong' }).count(), 0, `${route} failed`);
  await checkView(page, route);
}

test('a tenant with full self-service writes a recovery plan of its own', async () => {
  const page = tenant;
  await visit(page, '/plans', 'Recovery plans');
  await page.getByRole('link', { name: 'New recovery plan' }).click();
  await page.getByLabel('Plan name').fill('Web tier last');
  await page.getByLabel('Group name').fill('Back end');
  await page.getByRole('group', { name: 'VMs in this group' }).getByRole('checkbox').first().check();
  await page.getByLabel('Prompt, URL or runbook').nth(1).fill('Tell the web team');
  await page.getByRole('button', { name: 'Add the action after the VMs of group 1' }).click();
  await checkView(page, 'plan editor');
  await page.getByRole('button', { name: 'Save the plan' }).click();
  await page.getByRole('heading', { name: 'Web tier last' }).waitFor();
  await page.getByText('Manual step: Tell the web team').waitFor();
  await shot(page, 'tenant-plan.png');
});

test('every other view renders, labelled and readable', async () => {
  for (const [route, heading] of [['/jobs', 'Jobs'], ['/reports', 'Reports'], ['/vms', 'Virtual machines']]) {
    await visit(tenant, route, heading);
  }
  const sub = env('WAPDR_SUBSCRIPTION_ID');
  for (const [route, heading] of [
    ['/policies', 'Replication policies'], [`/policies/${env('WAPDR_POLICY')}`, `Edit ${env('WAPDR_POLICY')}`],
    ['/stamps/new', 'Register a stamp'], ['/pairs', 'Cloud pairs'], ['/subscriptions', 'DR subscriptions'],
    [`/subscriptions/${sub}/plans/new`, 'New recovery plan'], ['/jobs', 'Jobs'], ['/reports', 'Reports'],
    ['/runbooks', 'Runbooks'],
  ]) {
    await visit(provider, route, heading);
  }
  await visit(provider, '/subscriptions', 'DR subscriptions');
  await provider.getByLabel('Active stamp').selectOption({ label: RECOVERY });
  await provider.getByRole('button', { name: 'Apply the filters' }).click();
  await provider.getByRole('link', { name: sub }).waitFor();
  await shot(provider, 'admin-subscriptions.png');
});

test('no script error or CSP violation happened on any page', () => {
  assert.deepEqual(problems, []);
});
