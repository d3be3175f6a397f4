// SPDX-License-Identifier: Apache-2.0
// The dashboard of a server with a cluster (the testkit Kubernetes API server), in Debian's Chromium: it offers
// "Kubernetes pod", and a bot created that way starts as a Deployment and stops from the dashboard's buttons.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startKubernetesApiServer, type KubernetesApiServer } from '@ecps/testkit/kubernetes';
import { createHarness, LOOP_BOT, PASSWORD, type Harness } from './harness';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const NS = 'codex-bots';
let cluster: KubernetesApiServer;
let h: Harness;
let dir: string;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  cluster = await startKubernetesApiServer({ namespaces: [NS] });
  dir = mkdtempSync(join(tmpdir(), 'codex-k8s-dash-'));
  h = await createHarness({ KUBERNETES_ENABLED: 'true', KUBECONFIG: await cluster.writeKubeconfig(dir, NS), KUBERNETES_NAMESPACE: NS, KUBERNETES_IMAGES: JSON.stringify({ node: 'node:20-slim' }) });
  h.writeBot('pod/main.js', LOOP_BOT);
  context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = context.pages()[0] ?? (await context.newPage());
}, 60_000);

afterAll(async () => {
  await context?.close();
  await h?.close();
  await cluster?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('creates a Kubernetes pod bot from the dashboard, starts and stops it there', async () => {
  await page.goto(`${h.url}/api/v1/dashboard`);
  await page.fill('#login-username', 'admin');
  await page.fill('#login-password', PASSWORD);
  await page.click('#login-form button[type=submit]');
  await page.locator('#app-section').waitFor({ state: 'visible' });
  await page.locator('#create-deployment option[value=kubernetes_pod]').waitFor({ state: 'attached' });

  await page.fill('#create-id', 'pod-1');
  await page.fill('#create-name', 'Pod one');
  await page.fill('#create-blueprint', 'pod/main.js');
  await page.fill('#create-interpreter', 'node');
  await page.selectOption('#create-deployment', 'kubernetes_pod');
  await page.click('#create-form button[type=submit]');
  const status = page.locator('tr[data-bot-id="pod-1"] .status');
  await status.filter({ hasText: 'created' }).waitFor();
  expect((await h.call('GET', '/api/v1/bots/pod-1', { token: h.tokens.viewer })).body.deployment_config.deployment_type).toBe('kubernetes_pod');

  await page.locator('tr[data-bot-id="pod-1"] button[data-action=start]').click();
  await status.filter({ hasText: 'running' }).waitFor();
  expect(cluster.objects('deployments', NS, 'codex.ecps.dev/bot=pod-1')).toHaveLength(1);
  await page.locator('tr[data-bot-id="pod-1"] button[data-action=stop]').click();
  await status.filter({ hasText: 'stopped' }).waitFor();
  expect(cluster.objects('pods', NS, 'codex.ecps.dev/bot=pod-1')).toEqual([]);
});
