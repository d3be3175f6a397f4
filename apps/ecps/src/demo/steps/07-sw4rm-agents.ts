// SPDX-License-Identifier: Apache-2.0
// SW4RM: a hub (router, registry, scheduler) on ephemeral loopback ports; a planner and a worker register,
// exchange work through the router with the full ACK lifecycle (RECEIVED → READ → FULFILLED) and delivery acks,
// and the worker "crashes" before acknowledging a delivery: after its restart the router redelivers the same row.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AckLifecycleManager,
  AckStage,
  EnvelopeFactory,
  IncomingStream,
  MessageProcessor,
  MessageType,
  ackOf,
  createClient,
  idempotencyToken,
} from '@ecps/sw4rm';
import type { Envelope } from '@ecps/sw4rm';
import { startHub } from '../../hub/start-hub';
import type { DemoStep } from '../step';

const stage = (s: AckStage) => AckStage[s];

const step: DemoStep = {
  title: 'SW4RM agents: registry, router with delivery acks, ACK lifecycle, redelivery after a restart',
  async run(ctx) {
    const dir = mkdtempSync(join(tmpdir(), 'ecps-demo-sw4rm-'));
    const hub = await startHub({ routerPort: 0, registryPort: 0, schedulerPort: 0, dataDir: dir, drainGraceMs: 0, schedulerInbox: false, env: {} });
    const routerAddr = `127.0.0.1:${hub.ports.router}`;
    const router = createClient('router', routerAddr);
    const registry = createClient('registry', `127.0.0.1:${hub.ports.registry}`);
    const streams: IncomingStream[] = [];
    try {
      ctx.log(`hub        router :${hub.ports.router}, registry :${hub.ports.registry}, scheduler :${hub.ports.scheduler}`);
      for (const agentId of ['planner', 'worker']) {
        const r = await registry.registerAgent({ agent: { agentId, name: agentId, capabilities: agentId === 'worker' ? ['build'] : ['plan'] } });
        ctx.log(`registry   ← RegisterAgent ${agentId}: accepted=${r.accepted}`);
      }

      // planner: sends work and tracks its ACK lifecycle
      const planner = new EnvelopeFactory('planner');
      const lifecycle = new AckLifecycleManager({ send: (e) => router.sendMessage({ msg: e }) });
      streams.push(
        new IncomingStream({
          router,
          agentId: 'planner',
          onEnvelope: (e) => {
            const ack = ackOf(e);
            if (!ack) return;
            ctx.log(`planner    ← ACK ${stage(ack.ackStage)} for ${ack.ackForMessageId.slice(0, 8)}… from ${e.producerId}`);
            lifecycle.handleAck(ack);
          },
        }).start(),
      );

      // worker: a message processor (RECEIVED on admission, READ, FULFILLED) behind a resilient stream
      const startWorker = (generation: number, crashOn?: string) => {
        const processor = new MessageProcessor({
          agentId: 'worker',
          sendAck: async (ack) => {
            await router.sendMessage({ msg: ack });
          },
        }).on(MessageType.DATA, async (e: Envelope) => {
          ctx.log(`worker#${generation}   builds ${new TextDecoder().decode(e.payload)}`);
        });
        const stream = new IncomingStream({
          router,
          agentId: 'worker',
          onEnvelope: async (e, seq) => {
            if (e.messageType === MessageType.ACKNOWLEDGEMENT || e.producerId === 'worker') return 'delivered';
            ctx.log(`worker#${generation}   ← seq ${seq} ${e.messageId.slice(0, 8)}… (retry_count ${e.retryCount})`);
            if (crashOn && new TextDecoder().decode(e.payload).includes(crashOn)) {
              ctx.log(`worker#${generation}   crashes before acknowledging seq ${seq}`);
              stream.stop();
              return 'retry';
            }
            await processor.submit(e);
            await processor.idle();
            return 'delivered';
          },
        });
        streams.push(stream.start());
        return stream;
      };
      startWorker(1, 'task-2');
      await new Promise((r) => setTimeout(r, 200)); // both streams open: the router knows both agents

      const send = async (task: string) => {
        const env = planner.build({
          messageType: MessageType.DATA,
          contentType: 'application/json',
          payload: JSON.stringify({ task }),
          idempotencyToken: idempotencyToken('planner', 'build', new TextEncoder().encode(task)),
        });
        ctx.log(`planner    → ${task} ${env.messageId.slice(0, 8)}… token ${env.idempotencyToken}`);
        return lifecycle.send(env, AckStage.FULFILLED);
      };

      const first = await send('task-1');
      ctx.log(`planner    task-1 lifecycle ended ${stage(first.stage)} after ${first.attempts.length} attempt(s)`);

      const second = send('task-2');
      await new Promise((r) => setTimeout(r, 500));
      const pending = hub.router.router.pendingFor('worker');
      ctx.log(`router     worker rows pending delivery ack: ${pending.map((p) => `seq ${p.seq} ${p.state}`).join(', ')}`);
      ctx.log('worker#2   restarts and reconnects');
      startWorker(2);
      const done = await second;
      // the worker acks the delivery right after its handler: give that ack a moment to land
      for (let i = 0; i < 100 && hub.router.router.pendingFor('worker').length > 0; i++) await new Promise((r) => setTimeout(r, 20));
      ctx.log(`planner    task-2 lifecycle ended ${stage(done.stage)} after ${done.attempts.length} attempt(s); router rows left for worker: ${hub.router.router.pendingFor('worker').length}`);
      if (done.stage !== AckStage.FULFILLED || first.stage !== AckStage.FULFILLED) throw new Error('SW4RM demo: work was not fulfilled');
      lifecycle.close();
    } finally {
      for (const s of streams) s.stop();
      router.close();
      registry.close();
      await hub.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default step;
