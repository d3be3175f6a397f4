// SPDX-License-Identifier: Apache-2.0
// The dashboard in a real browser (Debian's Chromium driven by playwright-core) against a whole server: log in, create
// a bot, start it, watch its status change live, stop it, and show that a bot named like an XSS payload is only text;
// then the polling fallback, and recovery from a 4401 (token expired) close.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createHarness, eventually, LOOP_BOT, PASSWORD, type Harness } from './harness';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const XSS = '<img src=x onerror=alert(1)>';

let h: Harness;
let profile: string;
let context: BrowserContext;
let page: Page;
const dialogs: string[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  // The refresh cookie keeps its production flags (Secure): Chromium accepts it on http://127.0.0.1.
  h = await createHarness({ CODEX32_INSECURE_COOKIES: 'false' });
  h.writeBot('hello/main.js', LOOP_BOT);
  profile = mkdtempSync(join(tmpdir(), 'codex-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1200, height: 800 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/.test(message.text())) pageErrors.push(message.text());
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await h?.close();
});

const statusOf = (id: string) => page.locator(`tr[data-bot-id="${id}"] .status`);

it('logs in, creates, starts and stops a bot with live status, and renders hostile names as text', async () => {
  await page.goto(`${h.url}/api/v1/dashboard`);
  expect(await page.title()).toBe('Codex-32 Dashboard');
  await page.fill('#login-username', 'admin');
  await page.fill('#login-password', 'wrong password!!');
  await page.click('#login-form button[type=submit]');
  await page.locator('#login-error').filter({ hasText: 'invalid username or password' }).waitFor();

  await page.fill('#login-password', PASSWORD);
  await page.click('#login-form button[type=submit]');
  await page.locator('#app-section').waitFor({ state: 'visible' });
  await page.locator('#connection').filter({ hasText: 'live' }).waitFor();
  expect(await page.locator('#whoami').textContent()).toBe('admin (admin)');
  // No token where a script could read it.
  expect(await page.evaluate('[document.cookie, localStorage.length, sessionStorage.length]')).toEqual(['', 0, 0]);
  const cookie = (await context.cookies()).find((c) => c.name === 'codex32_refresh');
  expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/api/v1/auth' });

  // Create through the form: client-side validation first, then the server.
  await page.fill('#create-id', 'bad id!');
  await page.fill('#create-name', 'Web One');
  await page.fill('#create-blueprint', 'hello/main.js');
  await page.click('#create-form button[type=submit]');
  expect(await page.locator('#create-error').textContent()).toContain('Id');
  // Only the deployment types this server runs are offered (no cluster here: no Kubernetes pod).
  expect(await page.locator('#create-deployment option').evaluateAll((options) => options.map((o) => o.getAttribute('value')))).toEqual(['local_process', 'sandbox']);
  await page.fill('#create-id', 'web-1');
  await page.fill('#create-interpreter', 'node');
  await page.click('#create-form button[type=submit]');
  await statusOf('web-1').filter({ hasText: 'created' }).waitFor();
  expect(await statusOf('web-1').getAttribute('class')).toBe('status status-created');
  const stop = page.locator('tr[data-bot-id="web-1"] button[data-action=stop]');
  const start = page.locator('tr[data-bot-id="web-1"] button[data-action=start]');
  expect(await stop.isDisabled()).toBe(true);

  await start.click();
  await statusOf('web-1').filter({ hasText: 'running' }).waitFor();
  expect(await start.isDisabled()).toBe(true);
  expect(await stop.isEnabled()).toBe(true);
  await page.locator('#health').filter({ hasText: 'healthy' }).waitFor();

  // A status change made elsewhere arrives over the WebSocket.
  await h.call('POST', '/api/v1/bots/web-1/stop', { token: h.tokens.operator });
  await statusOf('web-1').filter({ hasText: 'stopped' }).waitFor();
  await start.click();
  await statusOf('web-1').filter({ hasText: 'running' }).waitFor();
  await stop.click();
  await statusOf('web-1').filter({ hasText: 'stopped' }).waitFor();

  // Hostile names, created elsewhere, appear live as literal text.
  expect((await h.call('POST', '/api/v1/bots', { token: h.tokens.admin, body: { id: 'xss', name: XSS, blueprint: 'nope/main.js', deployment_config: { interpreter: 'node' } } })).status).toBe(201);
  const row = page.locator('tr[data-bot-id="xss"]');
  await row.waitFor();
  expect(await row.locator('td').nth(1).textContent()).toBe(XSS);
  expect(await page.locator('img').count()).toBe(0);
  // A failed bot turns the health critical, and its incident is listed.
  await page.locator('tr[data-bot-id="xss"] button[data-action=start]').click();
  await statusOf('xss').filter({ hasText: 'failed' }).waitFor();
  await page.locator('#health').filter({ hasText: 'critical' }).waitFor();
  await page.locator('#action-error').filter({ hasText: 'Bot script not found' }).waitFor();

  // The fleet panel and resource sparklines: an ECPS node bot runs for a few supervisor ticks; a crashing bot's
  // incidents are listed.
  h.writeBot('crash/main.js', "setTimeout(() => process.exit(3), 100);\n");
  await h.call('POST', '/api/v1/bots', {
    token: h.tokens.admin,
    body: { id: 'arm-1', name: 'Robot arm 1', role: 'orchestrator', blueprint: 'hello/main.js', deployment_config: { interpreter: 'node', identity: { kind: 'ecps_node', node_id: 'arm-1', broker_url: 'mqtt://127.0.0.1:1883' } } },
  });
  await h.call('POST', '/api/v1/bots', { token: h.tokens.admin, body: { id: 'crasher', name: 'Crasher', blueprint: 'crash/main.js', deployment_config: { interpreter: 'node' } } });
  await h.call('POST', '/api/v1/bots/arm-1/start', { token: h.tokens.admin });
  await h.call('POST', '/api/v1/bots/crasher/start', { token: h.tokens.admin });
  await page.locator('#ecps-nodes li').filter({ hasText: 'arm-1 (bot arm-1)' }).waitFor();
  await page.locator('#incidents li').filter({ hasText: 'crasher exited' }).waitFor();
  await page.locator('tr[data-bot-id="arm-1"] svg.spark').first().waitFor({ timeout: 15_000 });
  expect(await page.locator('#incidents li').first().textContent()).toContain('crasher');

  await page.screenshot({ path: join(h.dir, 'dashboard.png') });
  if (process.env['UPDATE_SCREENSHOTS'] === '1') {
    mkdirSync(join(import.meta.dirname, '..', 'docs'), { recursive: true });
    copyFileSync(join(h.dir, 'dashboard.png'), join(import.meta.dirname, '..', 'docs', 'dashboard.png'));
  }

  // A reload keeps the session through the HttpOnly refresh cookie only.
  await page.reload();
  await page.locator('#app-section').waitFor({ state: 'visible' });
  await statusOf('web-1').filter({ hasText: 'stopped' }).waitFor();
  expect(await page.locator('img').count()).toBe(0);

  expect(dialogs).toEqual([]);
  expect(pageErrors).toEqual([]);
}, 90_000);

it('a viewer sees no controls it may not use', async () => {
  await page.click('#logout');
  await page.locator('#login-section').waitFor({ state: 'visible' });
  expect(await page.locator('tr[data-bot-id]').count()).toBe(0);
  await page.fill('#login-username', 'viewer');
  await page.fill('#login-password', PASSWORD);
  await page.click('#login-form button[type=submit]');
  await page.locator('tr[data-bot-id="web-1"]').waitFor();
  expect(await page.locator('button[data-action]').count()).toBe(0);
  expect(await page.locator('#create-form').isHidden()).toBe(true);
}, 30_000);

it('falls back to polling while the WebSocket is down, and reconnects', async () => {
  // From now on every new /ws/updates connection is refused at once; then the live one is cut from the server side.
  let refuse = true;
  await page.routeWebSocket(/\/ws\/updates/, (ws) => (refuse ? ws.close({ code: 1011, reason: 'test: refused' }) : ws.connectToServer()));
  const wss = (h.server.api.app as unknown as { websocketServer: { clients: Set<{ terminate(): void }> } }).websocketServer;
  for (const client of wss.clients) client.terminate();
  await page.locator('#connection').filter({ hasText: 'polling' }).waitFor();
  // A change made elsewhere still arrives, through /api/v1/dashboard/data every 2 s.
  await h.call('POST', '/api/v1/bots/web-1/start', { token: h.tokens.operator });
  await statusOf('web-1').filter({ hasText: 'running' }).waitFor({ timeout: 10_000 });
  expect(await page.locator('#connection').textContent()).toBe('polling');
  refuse = false; // the next attempt (backoff at most 30 s) gets through
  await page.locator('#connection').filter({ hasText: 'live' }).waitFor({ timeout: 40_000 });
  await h.call('POST', '/api/v1/bots/web-1/stop', { token: h.tokens.operator });
  await statusOf('web-1').filter({ hasText: 'stopped' }).waitFor();
}, 60_000);

it('when the server closes the live socket with 4401 (token expired), refreshes its token and reconnects', async () => {
  const urls: string[] = [];
  await page.routeWebSocket(/\/ws\/updates/, (ws) => {
    urls.push(ws.url());
    ws.connectToServer();
  });
  const wss = (h.server.api.app as unknown as { websocketServer: { clients: Set<{ close(code: number, reason: string): void; terminate(): void }> } }).websocketServer;
  for (const client of wss.clients) client.terminate(); // reconnect through this route, so the test sees the token
  await eventually(() => (urls.length === 1 ? true : undefined));
  await page.locator('#connection').filter({ hasText: 'live' }).waitFor();
  const tokenOf = (url: string) => new URL(url).searchParams.get('token')!;
  const claims = JSON.parse(Buffer.from(tokenOf(urls[0]!).split('.')[1]!, 'base64url').toString()) as { jti: string; exp: number };
  // The token is now dead for the server (as if expired), and the server closes the socket as it does at expiry.
  await h.server.api.auth.store.revokeAccessToken(claims.jti, claims.exp * 1000);
  for (const client of wss.clients) client.close(4401, 'token expired');
  await eventually(() => (urls.length >= 2 ? true : undefined));
  expect(tokenOf(urls[1]!)).not.toBe(tokenOf(urls[0]!)); // the very next attempt already carries a refreshed token
  await page.locator('#connection').filter({ hasText: 'live' }).waitFor();
  await h.call('POST', '/api/v1/bots/web-1/start', { token: h.tokens.operator });
  await statusOf('web-1').filter({ hasText: 'running' }).waitFor();
  await h.call('POST', '/api/v1/bots/web-1/stop', { token: h.tokens.operator });
  await statusOf('web-1').filter({ hasText: 'stopped' }).waitFor();
}, 60_000);
