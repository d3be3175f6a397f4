// SPDX-License-Identifier: Apache-2.0
// `ecps hitl list|answer`: the person's side of a hub's human-in-the-loop queue (files under <data-dir>/hitl).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Option } from 'commander';
import { CliError, jsonOption } from '../kit/index';
import type { EcpsCommand } from '../kit/index';

/**
 * The decisions a person can take: @ecps/sw4rm-hitl's HITL_ACTIONS, listed here so that `ecps --help` does not load
 * the HITL service (test/cli.test.ts checks that the two lists are equal).
 */
export const HITL_ACTION_CHOICES = ['approve', 'deny', 'modify', 'defer'] as const;

interface DirFlags {
  dataDir?: string;
}

const dataDirOption = () => new Option('--data-dir <dir>', "the hub's data directory (default: $SW4RM_DATA_DIR, else .)");
/** The hub's queue folder; one that does not exist means no hub ever ran there (a hub creates it at start). */
function queueDir(o: DirFlags): string {
  const dataDir = o.dataDir ?? process.env['SW4RM_DATA_DIR'] ?? '.';
  const dir = join(dataDir, 'hitl');
  if (!existsSync(dir)) throw new CliError('NOT_FOUND', `no HITL queue in ${dataDir}`, { hint: "give the hub's --data-dir (or set SW4RM_DATA_DIR)" });
  return dir;
}

const hitl: EcpsCommand = (program, ctx) => {
  const group = program.command('hitl').description("answer a hub's human-in-the-loop questions");
  group
    .command('list')
    .description('pending questions, oldest first')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (o: DirFlags & { json?: boolean }) => {
      const { listPendingHitl } = await import('@ecps/sw4rm-hitl');
      const pending = listPendingHitl(queueDir(o));
      if (o.json) return ctx.out.json(pending);
      if (pending.length === 0) return ctx.out.message('no pending questions');
      for (const p of pending) {
        ctx.out.line(`${p.id}  ${p.reason_type}  priority ${p.priority}  asked ${p.created_at}${p.deadline ? `  deadline ${p.deadline}` : ''}`);
        ctx.out.line(`    ${p.context ?? `(binary, base64) ${p.context_b64}`}`);
        if (p.proposed_actions.length) ctx.out.line(`    proposed: ${p.proposed_actions.join(', ')}`);
      }
    });
  group
    .command('answer')
    .description('decide a pending question; prints the decision')
    .argument('<id>', 'the question id (from `ecps hitl list`)')
    .addArgument(group.createArgument('<action>', 'the decision').choices(HITL_ACTION_CHOICES))
    .addOption(dataDirOption())
    .option('--rationale <text>', 'why, kept with the decision')
    .option('--payload <text>', 'decision payload (e.g. the modified request)')
    .addOption(jsonOption())
    .action(async (id: string, action: string, o: DirFlags & { rationale?: string; payload?: string; json?: boolean }) => {
      const { answerHitl } = await import('@ecps/sw4rm-hitl');
      const d = answerHitl(queueDir(o), id, action, { ...(o.rationale ? { rationale: o.rationale } : {}), ...(o.payload ? { payload: new TextEncoder().encode(o.payload) } : {}) });
      if (o.json) ctx.out.json({ id: d.id, action: d.action, decided_at: d.decided_at });
      else ctx.out.line(`${d.id} ${d.action} ${d.decided_at}`);
    });
};

export default hitl;
