// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/codex-api.

export { createCodexApi } from './server';
export { startCodexServer } from './main';
export { apiConfigFromEnv } from './config';
export { ApiError, isApiError, API_ERROR_REASONS } from './errors';
export { ROLES, PERMISSIONS, ROLE_PERMISSIONS, permissionsOf, hasPermission } from './permissions';
export { Authenticator, publicUser, hashPassword, ISSUER, AUDIENCE } from './auth/authenticator';
export { JsonAuthStore } from './auth/auth-store';
export { PostgresAuthStore } from './auth/pg-auth-store';
export { PatchProposals, PATCH_STATUSES } from './patches';
export { Deployments, supervisorDriver, kubernetesDriver } from './deployments';
export { BotService, nextSteps, requirePermission } from './service';
export { Conversation } from './intent/conversation';
export { parseIntent, normalize, slug, editDistance, resolveBot, HELP_TEXT, INTENTS, EXECUTE_AT, CONFIRM_AT } from './intent/parser';
export { mockSpeechToText, audioDigest } from './speech/provider';
export { pocketsphinxSpeechToText, commandGrammar } from './speech/pocketsphinx';
export { parseWav, encodeWav, resampleTo16k } from './speech/wav';
export { analyzeDescription } from './builder/analyze';
export { buildBot, GENERATED_BOT_SOURCE } from './builder/builder';
export { systemHealth } from './routes/system';
export { DASHBOARD_CSP } from './routes/dashboard';
export { REFRESH_COOKIE } from './routes/auth';
export { UpdatesHub, WS_CLOSE } from './ws/updates';
export { MAX_AUDIO_BYTES, MAX_TEXT_BYTES } from './ws/command';

export type { CodexApi, CodexApiOptions, RouteInfo } from './server';
export type { CodexServer, CodexServerOptions } from './main';
export type { ApiConfig } from './config';
export type { ApiErrorReason } from './errors';
export type { Role, Permission, Principal } from './permissions';
export type { TokenPair, AuthenticatorOptions } from './auth/authenticator';
export type { AuthStore, UserRecord, ApiKeyRecord, RefreshTokenRecord, RefreshConsumption } from './auth/auth-store';
export type { PostgresAuthStoreOptions } from './auth/pg-auth-store';
export type { PatchProposal, PatchStatus, NewPatch } from './patches';
export type { DeploymentDriver, DriverStartResult, DriverStopResult } from './deployments';
export type { ConversationalResponse, ConversationAction, ActionStatus, ConversationOptions } from './intent/conversation';
export type { ParsedIntent, Intent, ParseContext, BotRef } from './intent/parser';
export type { SpeechToTextProvider, PcmAudio, Transcript } from './speech/provider';
export type { PocketsphinxOptions } from './speech/pocketsphinx';
export type { BotAnalysis } from './builder/analyze';
export type { BuildResult } from './builder/builder';
export type { UpdateMessage } from './ws/updates';
export type { RouteAccess } from './context';
