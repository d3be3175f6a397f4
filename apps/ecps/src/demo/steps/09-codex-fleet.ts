// SPDX-License-Identifier: Apache-2.0
// Codex runs the robot's bots: the management API starts them over HTTP with a real login, the camera driver crashes on
// its first run, the supervisor heals it, and the dashboard's URL is printed for a person to open.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCodexServer, type CodexServer } from '@ecps/codex-api';
import type { DemoStep } from '../step';

const ROBOT_BOT = "console.log('up as', process.env.ECPS_NODE_ID ?? process.env.SW4RM_AGENT_ID); setInterval(() => {}, 1000);\n";
// Crashes once: the first run leaves a marker in its folder and exits 1; the restarted run stays up.
const FLAKY_BOT = `const { existsSync, writeFileSync } = require('node:fs');
if (!existsSync('crashed-once')) { writeFileSync('crashed-once', ''); setTimeout(() => process.exit(1), 300); }
else setInterval(() => {}, 1000);
`;

const BOTS = [
  { id: 'arm-controller', name: 'Arm controller', blueprint: 'arm/main.js', identity: { kind: 'ecps_node', node_id: 'robot-arm' } },
  { id: 'camera-driver', name: 'Camera driver', blueprint: 'camera/main.js', identity: { kind: 'ecps_node', node_id: 'camera' } },
  { id: 'task-planner', name: 'Task planner', blueprint: 'planner/main.js', identity: { kind: 'sw4rm_agent', agent_id: 'planner' } },
];

const step: DemoStep = {
  title: 'Codex runs the robot bots and heals a crash',
  async run(ctx) {
    const dir = ctx.tempDir('codex');
    let server: CodexServer | undefined;
    try {
      for (const [folder, source] of [['arm', ROBOT_BOT], ['camera', FLAKY_BOT], ['planner', ROBOT_BOT]] as const) {
        mkdirSync(join(dir, 'bots', folder), { recursive: true });
        writeFileSync(join(dir, 'bots', folder, 'main.js'), source);
      }
      server = await startCodexServer({
        baseDir: dir,
        env: {
          API_SECRET_KEY: randomBytes(32).toString('base64url'),
          PORT: '0',
          BOTS_DIRECTORY: 'bots',
          BOT_INTERPRETERS: JSON.stringify({ node: process.execPath }),
          HEALTH_CHECK_INTERVAL_SEC: '1',
          BCRYPT_COST: '10',
        },
      });
      const password = randomBytes(12).toString('base64url');
      await server.api.auth.createUser({ username: 'demo', password, roles: ['admin'] });
      const url = server.url;
      const call = async (method: string, path: string, token?: string, body?: unknown) => {
        const response = await fetch(url + path, {
          method,
          headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        const data = (await response.json()) as Record<string, unknown>;
        if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${String(data['detail'])}`);
        return data;
      };
      const { access_token: token } = (await call('POST', '/api/v1/auth/login', undefined, { username: 'demo', password })) as { access_token: string };
      ctx.held('codex', `logged in as demo (admin) at ${url}`);

      const healed = new Promise<void>((resolve) => {
        let crashed = false;
        server!.registry.events.subscribe((event) => {
          if (event.type === 'bot.status' && event.data.bot_id === 'camera-driver') {
            if (event.data.to === 'failed') {
              crashed = true;
              // the camera driver is written to crash on its first run: what the step shows is the healing
              ctx.log(`codex      camera-driver crashed, as its first run is meant to (exit code ${event.data.exit_code ?? '?'})`);
            }
            if (crashed && event.data.to === 'running') resolve();
          }
          if (event.type === 'incident' && event.data.incident.bot_id === 'camera-driver' && event.data.incident.kind === 'unhealthy') {
            ctx.log(`codex      incident: ${event.data.incident.message}`);
          }
        });
      });
      for (const bot of BOTS) {
        await call('POST', '/api/v1/bots', token, { id: bot.id, name: bot.name, role: 'worker', blueprint: bot.blueprint, deployment_config: { interpreter: 'node', identity: bot.identity } });
        const started = (await call('POST', `/api/v1/bots/${bot.id}/start`, token)) as { bot_status: string };
        ctx.log(`codex      started ${bot.id.padEnd(15)} ${started.bot_status} as ${bot.identity.kind === 'ecps_node' ? `ECPS node ${bot.identity.node_id}` : `SW4RM agent ${bot.identity.agent_id}`}`);
      }
      await Promise.race([healed, new Promise((_, reject) => setTimeout(() => reject(new Error('camera-driver was not healed within 20 s')), 20_000))]);
      ctx.held('codex', 'camera-driver healed: restarted after its backoff and running again');
      const stats = (await call('GET', '/api/v1/system/stats', token)) as { registry: { active_bots: number } };
      ctx.log(`codex      ${stats.registry.active_bots} of ${BOTS.length} bots running`);
      ctx.log(`codex      dashboard: ${url}/api/v1/dashboard (user demo, password ${password})`);
      const holdSec = Number(process.env['ECPS_DEMO_CODEX_HOLD_SEC'] ?? 0);
      if (holdSec > 0) {
        ctx.log(`codex      keeping the server up for ${holdSec} s (ECPS_DEMO_CODEX_HOLD_SEC)`);
        await new Promise((r) => setTimeout(r, holdSec * 1000));
      }
    } finally {
      await server?.close();
    }
  },
};

export default step;
