// SPDX-License-Identifier: Apache-2.0
// A controller asks a robot to act: one MCP prompt, then one EAP action whose state_sha commits to what the
// controller perceived.
import { createHash } from 'node:crypto';
import { assertValidEap, isEcpsError, toHex } from '@ecps/core';
import { GripperOp_GripperCommand, type EAP } from '@ecps/proto';
import type { DemoStep } from '../step';

const step: DemoStep = {
  title: 'MCP prompt and EAP action between a controller and a robot',
  async run(ctx) {
    const controller = await ctx.createNode('controller');
    const robot = await ctx.createNode('robot-arm');
    let done!: () => void;
    const executed = new Promise<void>((resolve) => (done = resolve));

    await robot.mcp.onPrompt((prompt) => {
      ctx.log(`robot-arm  ← prompt ${JSON.stringify(prompt.prompt)} from ${prompt.source} (tools: ${new TextDecoder().decode(prompt.toolJson)})`);
    });
    await robot.subscribe('EAP', 'eap', (action, event) => {
      assertValidEap(action);
      if (action.body?.$case !== 'gripper') return;
      const op = action.body.value;
      ctx.log(
        `robot-arm  ← action ${GripperOp_GripperCommand[op.command]} position=${op.position.toFixed(2)} force≤${op.forceLimit} N ` +
          `from ${event.source}, state_sha ${toHex(action.stateSha).slice(0, 16)}…`,
      );
      ctx.held('robot-arm', `gripper executed the action it was sent (safety: ${action.meta['safety'] ?? 'none'})`);
      done();
    });

    const tools = { name: 'gripper', parameters: { command: ['OPEN', 'CLOSE', 'GRIP'], force_limit: 'newtons' } };
    const promptId = crypto.randomUUID();
    ctx.log(`controller → prompt ${promptId}`);
    await controller.mcp.send({ id: promptId, prompt: 'Pick up the red cube on the left of the tray.', tools, meta: { lang: 'en' } });

    // MCP prompts are capped at 16384 UTF-8 bytes, checked by the sender and again by every receiver
    const refusal = await controller.mcp.send('x'.repeat(16_385)).then(
      () => undefined,
      (error: unknown) => error,
    );
    if (!isEcpsError(refusal, 'PROMPT_TOO_LARGE')) throw new Error(`a 16385-byte prompt was not refused (${String(refusal ?? 'it was sent')})`);
    ctx.refused('controller', `a 16385-byte prompt is over the 16384-byte limit and is never sent (${refusal.code})`);

    // The perceptual snapshot the decision was based on; its SHA-256 travels with the action.
    const snapshot = new TextEncoder().encode('camera_optical frame 42: red cube at (0.31, -0.12, 0.05)');
    const action: EAP = {
      spec: 'eap/0.1',
      id: crypto.randomUUID(),
      stateSha: createHash('sha256').update(snapshot).digest(),
      body: { $case: 'gripper', value: { command: GripperOp_GripperCommand.GRIP, position: 0.2, forceLimit: 15 } },
      meta: { safety: 'stop_on_fail' },
    };
    ctx.log(`controller → action ${action.id}`);
    await controller.publish('EAP', 'eap', action);
    await executed;
  },
};

export default step;
