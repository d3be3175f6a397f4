// SPDX-License-Identifier: Apache-2.0
// The conventions every `ecps` command follows, checked on the BUILT CLI run as a child process: help on stdout,
// usage errors as one line plus a hint with exit 2, the same numeric validation everywhere, --json, SIGINT.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { HitlReasonType } from '@ecps/sw4rm/proto';
import { FileHitlQueue, HITL_ACTIONS } from '@ecps/sw4rm-hitl';
import { HITL_ACTION_CHOICES } from '../src/commands/hitl';
import { vectorsDir } from '@ecps/testkit';
import { ecps, repoRoot, startEcps } from './run-ecps';

const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string };
const CODEX_BOTS_COMMANDS = ['list', 'add', 'start', 'stop', 'logs', 'incidents'];
const EAPLOG_COMMANDS = ['info', 'validate', 'verify', 'migrate', 'batch-migrate', 'convert', 'repair', 'extract', 'list', 'create', 'list-versions', 'replay'];

/** The option lines of a help text, each with whether it has a description. */
function options(help: string): { flags: string; described: boolean }[] {
  const section = help.split(/^Options:$/m)[1]?.split(/^\S.*:$/m)[0] ?? '';
  const rows: { flags: string; described: boolean }[] = [];
  for (const line of section.split('\n')) {
    const m = /^ {2}(-\S.*?)(?: {2,}(\S.*))?$/.exec(line);
    if (m) rows.push({ flags: m[1]!, described: m[2] !== undefined });
  }
  return rows;
}

describe('ecps help', () => {
  it('with no arguments prints the help on stdout and exits 0', async () => {
    const r = await ecps([]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^Usage: ecps \[options\] \[command\]/);
    for (const command of ['demo', 'broker', 'hub', 'hitl', 'eaplog', 'codex', 'node', 'init', 'peat', 'help']) expect(r.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    expect(r.stdout).toMatch(/Exit codes: 0 ok, 1 the operation failed, 2 usage error/);
  });

  it('every command and subcommand has help on stdout (`help <path>` = `<path> --help`), every option described', async () => {
    const commandsIn = (help: string): string[] =>
      [...(help.split(/^Commands:$/m)[1] ?? '').matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    const seen: string[] = [];
    const walk = async (path: string[]): Promise<void> => {
      const r = await ecps(['help', ...path]);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(r.stdout).toMatch(new RegExp(`^Usage: ${['ecps', ...path].join(' ')} `));
      expect({ path, undescribed: options(r.stdout).filter((o) => !o.described) }).toEqual({ path, undescribed: [] });
      if (path.length === 1) expect((await ecps([...path, '--help'])).stdout).toBe(r.stdout);
      seen.push(path.join(' '));
      await Promise.all(commandsIn(r.stdout).map((sub) => walk([...path, sub])));
    };
    await walk([]);
    expect(seen).toEqual(
      expect.arrayContaining([
        'demo',
        'broker',
        'hub',
        'hitl list',
        'hitl answer',
        ...CODEX_BOTS_COMMANDS.map((c) => `codex bots ${c}`),
        'codex serve',
        'codex hash-password',
        'node',
        'init',
        'peat node',
        'peat sim',
        'eaplog',
        ...EAPLOG_COMMANDS.map((c) => `eaplog ${c}`),
      ]),
    );
    expect((await ecps(['help', 'demo'])).stdout).toMatch(/^ {2}--json +/m);
    expect((await ecps(['help', 'eaplog', 'list'])).stdout).toMatch(/^ {2}--json +/m);
  }, 120_000); // about 40 processes: slow on a loaded machine

  it('eaplog without a subcommand lists its subcommands, like `help eaplog`', async () => {
    const bare = await ecps(['eaplog']);
    expect(bare).toMatchObject({ code: 0, stderr: '' });
    expect(bare.stdout).toMatch(/^Usage: ecps eaplog \[options\] \[command\]/);
    for (const sub of EAPLOG_COMMANDS) expect(bare.stdout).toMatch(new RegExp(`^  ${sub} `, 'm'));
    expect((await ecps(['help', 'eaplog'])).stdout).toBe(bare.stdout);
  });

  it('--version prints the version of the app', async () => {
    expect(await ecps(['--version'])).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('`pnpm ecps` works from the repository root', () => {
    const r = spawnSync('pnpm', ['ecps', '--version'], { cwd: repoRoot, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${version}\n`);
  });
});

describe('ecps usage errors: exit 2, one line on stderr and a hint, nothing on stdout', () => {
  const usage = async (args: string[], env: Record<string, string> = {}): Promise<string[]> => {
    const r = await ecps(args, env);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    return lines;
  };

  it('an unknown command', async () => {
    expect(await usage(['frobnicate'])).toEqual(["ecps: unknown command 'frobnicate'", "hint: see 'ecps --help'"]);
    expect((await usage(['dmeo']))[0]).toBe("ecps: unknown command 'dmeo' (did you mean demo?)");
    expect(await usage(['eaplog', 'frobnicate'])).toEqual(["ecps eaplog: unknown command 'frobnicate'", "hint: see 'ecps eaplog --help'"]);
  });

  it('an unknown flag, on every command', async () => {
    expect(await usage(['--bogus'])).toEqual(["ecps: unknown option '--bogus'", "hint: see 'ecps --help'"]);
    const commands = ['demo', 'broker', 'hub', 'hitl list', ...CODEX_BOTS_COMMANDS.map((c) => `codex bots ${c}`), 'codex serve', 'codex hash-password', 'node', 'init', 'peat sim'];
    const errors = await Promise.all(commands.map((command) => usage([...command.split(' '), '--bogus'])));
    for (const [i, command] of commands.entries()) {
      expect(errors[i]).toEqual([`ecps ${command}: unknown option '--bogus'`, `hint: see 'ecps ${command} --help'`]);
    }
    // peat node checks its required options first
    expect(await usage(['peat', 'node', '--broker', 'mqtt://127.0.0.1:1', '--id', 'a', '--bogus'])).toEqual(["ecps peat node: unknown option '--bogus'", "hint: see 'ecps peat node --help'"]);
    expect(await usage(['peat', 'node', '--id', 'a'])).toEqual(["ecps peat node: required option '--broker <url>' not specified", "hint: see 'ecps peat node --help'"]);
    expect(await usage(['eaplog', 'list', 'x.eaplog', '--bogus'])).toEqual(["ecps eaplog list: unknown option '--bogus'", "hint: see 'ecps eaplog list --help'"]);
  });

  it('a bad numeric value, refused with the same sentence by every command', async () => {
    expect((await usage(['hub', '--router-port', 'abc']))[0]).toBe("ecps hub: option '--router-port <port>' argument 'abc' is invalid. Expected an integer from 0 to 65535.");
    expect((await usage(['hub', '--scheduler-port', '1.5']))[0]).toMatch(/'1\.5' is invalid\. Expected an integer from 0 to 65535\.$/);
    expect((await usage(['broker', '--port', '70000']))[0]).toBe("ecps broker: option '--port <port>' argument '70000' is invalid. Expected an integer from 0 to 65535.");
    expect((await usage(['eaplog', 'list', 'x.eaplog', '--max', 'many']))[0]).toBe("ecps eaplog list: option '--max <n>' argument 'many' is invalid. Expected an integer of at least 0.");
    expect((await usage(['peat', 'sim', '--nodes', 'many']))[0]).toBe("ecps peat sim: option '--nodes <n>' argument 'many' is invalid. Expected an integer of at least 1.");
    expect((await usage(['peat', 'node', '--broker', 'mqtt://127.0.0.1:1', '--id', 'a', '--lat', '91']))[0]).toBe("ecps peat node: option '--lat <deg>' argument '91' is invalid. Expected a number from -90 to 90.");
    expect((await usage(['demo', '--transport', 'dds', '--domain', '233']))[0]).toBe("ecps demo: option '--domain <id>' argument '233' is invalid. Expected an integer from 0 to 232.");
    expect((await usage(['codex', 'bots', 'logs', 'x', '--tail', '0']))[0]).toBe("ecps codex bots logs: option '--tail <bytes>' argument '0' is invalid. Expected an integer of at least 1.");
    expect(await usage(['hub'], { ROUTER_PORT: 'abc' })).toEqual(['ecps hub: ROUTER_PORT=abc is invalid. Expected an integer from 0 to 65535.', "hint: see 'ecps hub --help'"]);
  });

  it('a bad value of another kind', async () => {
    expect(await usage(['demo', '--broker', 'http://127.0.0.1:1883'])).toEqual([
      'ecps demo: --broker http://127.0.0.1:1883: http is not an MQTT scheme',
      'hint: use one of mqtt, mqtts, tcp, ssl, tls, ws, wss',
    ]);
    expect((await usage(['hub', '--tls-cert', 'server.pem']))[0]).toBe('ecps hub: --tls-cert and --tls-key go together');
    expect((await usage(['hub', '--tls-cert', 'missing.pem', '--tls-key', 'missing.key']))[0]).toMatch(/^ecps hub: --tls-cert missing\.pem: ENOENT/);
    expect((await usage(['hub', '--repo', 'app']))[0]).toBe('ecps hub: --repo wants id=path, got app');
    expect((await usage(['hub', '--host', '0.0.0.0']))[0]).toMatch(/^ecps hub: refusing to serve SW4RM on 0\.0\.0\.0 without TLS/);
    expect((await usage(['demo', '--transport', 'zenoh']))[0]).toBe("ecps demo: option '--transport <kind>' argument 'zenoh' is invalid. Allowed choices are mqtt, dds.");
    expect(await usage(['demo', '--transport', 'dds', '--broker', 'mqtt://127.0.0.1:1883'])).toEqual(['ecps demo: --broker is for MQTT; DDS needs no broker', "hint: see 'ecps demo --help'"]);
    expect(await usage(['demo', '--domain', '3'])).toEqual(['ecps demo: --domain is for DDS', 'hint: add --transport dds']);
    expect(await usage(['codex', 'hash-password', 'Root!'])).toEqual(['ecps codex hash-password: username Root! must match [a-z0-9_.-]{3,64}', "hint: see 'ecps codex hash-password --help'"]);
    expect((await usage(['peat', 'node', '--broker', 'mqtt://127.0.0.1:1', '--id', 'a', '--cap', 'WARP=2']))[0]).toBe('ecps peat node: capability "WARP=2" is not <TYPE>=<confidence>');
    expect((await usage(['hub', '--hitl-fallback', 'maybe']))[0]).toBe("ecps hub: option '--hitl-fallback <action>' argument 'maybe' is invalid. Allowed choices are approve, deny, modify, defer.");
  });
});

describe('ecps --json', () => {
  it('eaplog list and extract accept --json (and still --format json)', async () => {
    const file = join(vectorsDir(), 'v2.1.eaplog');
    const list = await ecps(['eaplog', 'list', file, '--json']);
    expect(list).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ index: 0, action_type: 'set_pose' }), expect.objectContaining({ index: 1 })]);
    expect((await ecps(['eaplog', 'list', file, '--format', 'json'])).stdout).toBe(list.stdout);
    const extract = await ecps(['eaplog', 'extract', file, '--json']);
    expect(extract.code).toBe(0);
    expect(JSON.parse(extract.stdout)).toHaveLength(2);
    expect((await ecps(['eaplog', 'extract', file])).stdout).toBe(extract.stdout);
  });

  it('broker --json prints its ready line with the URL and stops on SIGINT with exit 0', async () => {
    const broker = startEcps(['broker', '--port', '0', '--json']);
    const line = await broker.waitForLine(/^\{/);
    expect(JSON.parse(line)).toEqual({ ready: true, url: expect.stringMatching(/^mqtt:\/\/127\.0\.0\.1:\d+$/) });
    broker.child.kill('SIGINT');
    const r = await broker.exited;
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${line}\n`); // data only on stdout
    expect(r.stderr).toMatch(/ecps broker: stopped\n$/);
  });

  it('hub --json prints the three ports and the data folder; a text run prints one address per line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecps-hub-cli-'));
    try {
      const flags = ['--router-port', '0', '--registry-port', '0', '--scheduler-port', '0'];
      const env = { SW4RM_ROUTER_DRAIN_SECONDS: '0' }; // no streams to drain: stop at once
      const json = startEcps(['hub', ...flags, '--data-dir', join(dir, 'a'), '--json'], env);
      const ready = JSON.parse(await json.waitForLine(/^\{/)) as Record<string, unknown>;
      expect(ready).toEqual({ ready: true, host: '127.0.0.1', router: expect.any(Number), registry: expect.any(Number), scheduler: expect.any(Number), dataDir: join(dir, 'a') });
      json.child.kill('SIGTERM');
      expect((await json.exited).code).toBe(0);

      const text = startEcps(['hub', ...flags, '--data-dir', join(dir, 'b')], env);
      await text.waitForLine(/^scheduler /);
      expect(text.stdout()).toMatch(/^router {4}127\.0\.0\.1:\d+\nregistry {2}127\.0\.0\.1:\d+\nscheduler 127\.0\.0\.1:\d+\n$/);
      text.child.kill('SIGINT');
      const r = await text.exited;
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/ecps hub: stopped\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('ecps hitl', () => {
  it('lists a pending question (text and --json) and answers it; the waiting side gets the answer', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ecps-hitl-cli-'));
    const queue = new FileHitlQueue({ dir: join(dataDir, 'hitl'), pollIntervalMs: 20 });
    try {
      const asked = queue.decide({ reasonType: HitlReasonType.TOOL_PRIVILEGE_ESCALATION, context: new TextEncoder().encode('{"tool_name":"deploy"}'), proposedActions: ['approve', 'deny'], priority: 1 });
      const text = await ecps(['hitl', 'list', '--data-dir', dataDir]);
      expect(text).toMatchObject({ code: 0, stderr: '' });
      expect(text.stdout).toMatch(/^[0-9a-f]{20} {2}TOOL_PRIVILEGE_ESCALATION {2}priority 1 {2}asked \S+\n {4}\{"tool_name":"deploy"\}\n {4}proposed: approve, deny\n$/);
      const [pending] = JSON.parse((await ecps(['hitl', 'list', '--json'], { SW4RM_DATA_DIR: dataDir })).stdout) as { id: string }[];
      expect(pending!.id).toBe(text.stdout.slice(0, 20));

      const answer = await ecps(['hitl', 'answer', pending!.id, 'deny', '--rationale', 'not today', '--json', '--data-dir', dataDir]);
      expect(answer).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(answer.stdout)).toEqual({ id: pending!.id, action: 'deny', decided_at: expect.any(String) });
      expect(await asked).toMatchObject({ action: 'deny', rationale: 'not today' });

      const again = await ecps(['hitl', 'answer', pending!.id, 'approve', '--data-dir', dataDir]);
      expect(again).toMatchObject({ code: 1, stdout: '', stderr: `ecps hitl answer: invocation ${pending!.id} is already decided\n` });
      expect(await ecps(['hitl', 'list', '--data-dir', dataDir])).toMatchObject({ code: 0, stdout: '', stderr: 'no pending questions\n' });
    } finally {
      queue.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('offers the HITL service\'s actions', () => {
    expect(HITL_ACTION_CHOICES).toEqual(HITL_ACTIONS);
  });

  it('refuses an unknown action (exit 2) and a folder where no hub ran (exit 1)', async () => {
    const bad = await ecps(['hitl', 'answer', '0123456789abcdef0123', 'maybe']);
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toBe("ecps hitl answer: command-argument value 'maybe' is invalid for argument 'action'. Allowed choices are approve, deny, modify, defer.\nhint: see 'ecps hitl answer --help'\n");
    const none = await ecps(['hitl', 'list', '--data-dir', join(repoRoot, 'no-such-hub')]);
    expect(none).toMatchObject({ code: 1, stdout: '' });
    expect(none.stderr).toMatch(/^ecps hitl list: no HITL queue in .*no-such-hub\nhint: give the hub's --data-dir/);
  });
});
