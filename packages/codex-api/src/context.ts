// SPDX-License-Identifier: Apache-2.0
// What every route module of the server shares.
import type { Registry } from '@ecps/codex-registry';
import type { Clock } from '@ecps/core';
import type { Authenticator } from './auth/authenticator';
import type { ApiConfig } from './config';
import type { Deployments } from './deployments';
import type { Conversation } from './intent/conversation';
import type { PatchProposals } from './patches';
import type { Permission, Principal } from './permissions';
import type { BotService } from './service';
import type { SpeechToTextProvider } from './speech/provider';

/** Who may call a route: nobody in particular, any authenticated principal, or holders of every listed permission. */
export type RouteAccess = 'public' | 'authenticated' | 'refresh' | 'api_key' | 'ws_command' | Permission | Permission[];

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyRequest {
    principal: Principal | null;
    authError: Error | null;
  }
}

export interface ServerContext {
  config: ApiConfig;
  registry: Registry;
  deployments: Deployments;
  service: BotService;
  auth: Authenticator;
  patches: PatchProposals;
  conversation: Conversation;
  stt: SpeechToTextProvider | null;
  botsDirectory: string;
  builderInterpreter: string;
  version: string;
  clock: Clock;
  dashboardDir: string;
}
