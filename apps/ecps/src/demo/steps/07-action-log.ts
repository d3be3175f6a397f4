// SPDX-License-Identifier: Apache-2.0
// Actuation with an action log: a planner sends an action sequence, the robot executes and logs every action
// (.eaplog, native framing), then the demo prints `eaplog info` of the robot's log and replays it into a second
// robot, checking the state_sha sequence. The log is kept with `ecps demo --keep-log DIR`, else it is temporary.
import { toHex } from '@ecps/core';
import { EapStatus, ltpSnapshot, replayToNode } from '@ecps/eap';
import type { SequenceStep } from '@ecps/eap';
import { readEaplog, runEaplogCli } from '@ecps/eaplog';
import { EAP } from '@ecps/proto';
import type { DemoStep } from '../step';

const STATUS = { [EapStatus.EAP_STATUS_SUCCEEDED]: 'ok', [EapStatus.EAP_STATUS_FAILED]: 'FAILED', [EapStatus.EAP_STATUS_SKIPPED]: 'skipped' } as Record<number, string>;

const step: DemoStep = {
  title: 'EAP actions with results, stop_on_fail, the robot\'s .eaplog action log and its replay',
  async run(ctx) {
    const dir = ctx.keepLogDir ?? ctx.tempDir('eaplog');
    // An EAP topic prefix keeps this work cell's actions apart from the other demo steps' nodes.
    const cell = { topicPrefix: 'cell-7/' };
    const planner = await ctx.createNode('planner', { eap: { ...cell, log: false } });
    const robot = await ctx.createNode('arm-7', { eap: { ...cell, log: { dir } } });
    robot.eap.onAction('set_pose', (pose) => ctx.log(`arm-7      ← set_pose (${pose.x}, ${pose.y}, ${pose.z}) in ${pose.frameId}`));
    robot.eap.onAction('gripper', (op) => {
      ctx.log(`arm-7      ← gripper ${op.command === 1 ? 'OPEN' : op.command === 2 ? 'CLOSE' : 'GRIP'} force≤${op.forceLimit} N`);
      if (op.forceLimit > 20) throw new Error(`force limit ${op.forceLimit} N above the gripper's 20 N rating`);
      return { grasp: 'closed' };
    });
    robot.eap.onAction('navigate', (op) => ctx.log(`arm-7      ← navigate to (${op.targetPose?.x}, ${op.targetPose?.y})`));

    // The snapshot a decision used: the LTP frames it saw, u32le-framed (spec §5.2); its SHA-256 is the state_sha.
    const frame = (n: number): Uint8Array => new TextEncoder().encode(`camera frame ${n}`);
    const steps: SequenceStep[] = [
      { type: 'set_pose', data: { x: 0.31, y: -0.12, z: 0.05, frame_id: 'base_link' }, options: { snapshot: ltpSnapshot([frame(1)]), stopOnFail: true } },
      { type: 'gripper', data: { command: 'GRIP', force_limit: 15 }, options: { snapshot: ltpSnapshot([frame(1), frame(2)]), stopOnFail: true } },
      { type: 'gripper', data: { command: 'GRIP', force_limit: 35 }, options: { snapshot: ltpSnapshot([frame(3)]), stopOnFail: true } },
      { type: 'navigate', data: { target_pose: { x: 2, y: 1, frame_id: 'map' } }, options: { snapshot: ltpSnapshot([frame(4)]) } },
    ];
    ctx.log(
      `planner    → sequence of ${steps.length} actions with stop_on_fail (a failed step skips the rest); ` +
        `each handler has the standard profile's EAP budget of ${robot.eap.budgetMs} ms (overruns are reported, not fatal)`,
    );
    const { results, stoppedAt } = await planner.eap.sendSequence(steps);
    const line = (i: number): string => {
      const r = results[i]!;
      return `result ${i}: ${steps[i]?.type} ${STATUS[r.status] ?? r.status}${r.message ? ` (${r.message})` : ''}${r.status === EapStatus.EAP_STATUS_SUCCEEDED ? ` in ${r.durationMs.toFixed(2)} ms` : ''}`;
    };
    const statuses = results.map((r) => r.status);
    const wanted = [EapStatus.EAP_STATUS_SUCCEEDED, EapStatus.EAP_STATUS_SUCCEEDED, EapStatus.EAP_STATUS_FAILED, EapStatus.EAP_STATUS_SKIPPED];
    if (statuses.join() !== wanted.join() || stoppedAt !== 2) throw new Error(`unexpected results ${statuses.map((s) => STATUS[s] ?? s).join(', ')}, stopped at ${stoppedAt}`);
    ctx.log(`planner    ← ${line(0)}`);
    ctx.log(`planner    ← ${line(1)}`);
    ctx.refused('arm-7', line(2));
    ctx.held('planner', `stop_on_fail held: ${line(3)}`);

    const path = robot.eap.logPath as string;
    ctx.log(
      `arm-7      logged every received action to ${path} ` +
        (ctx.keepLogDir === undefined ? '(temporary: deleted when the demo ends; --keep-log DIR keeps it)' : '(kept: --keep-log)'),
    );
    ctx.log('$ ecps eaplog info <log>');
    const lines: string[] = [];
    await runEaplogCli(['info', path], { stdout: (t) => lines.push(...t.trimEnd().split('\n')), stderr: (t) => lines.push(t.trimEnd()) });
    for (const line of lines) ctx.log(`  ${line}`);

    // Replay into a second robot and check that the state_sha sequence is reproduced.
    const log = await readEaplog(path);
    const expected = log.messages.map((m) => toHex(EAP.decode(m.data).stateSha));
    await robot.eap.close(); // arm-7 goes offline (its log is closed); a twin takes its place
    const twin = await ctx.createNode('arm-7-twin', { eap: { ...cell, log: false } });
    let replayed = 0;
    twin.eap.onAction('set_pose', () => void replayed++);
    twin.eap.onAction('gripper', () => void replayed++);
    const replayer = await ctx.createNode('replayer', { eap: { ...cell, log: false } });
    const outcome = await replayToNode(replayer.eap, path, {
      expectStateHashes: expected,
      onResult: (i, r) => ctx.log(`replayer   ← replayed action ${i} on arm-7-twin: ${r ? (STATUS[r.status] ?? r.status) : 'no result'}`),
    });
    if (outcome.divergence || outcome.replayed !== expected.length) throw new Error(`the replay diverged at action ${outcome.divergence?.index ?? outcome.replayed}`);
    ctx.held('replayer', `${outcome.replayed} actions replayed in recorded order; state_sha sequence identical (${replayed} executed)`);
  },
};

export default step;
