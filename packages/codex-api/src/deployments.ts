// SPDX-License-Identifier: Apache-2.0
// Deployment drivers: what runs a bot depends on its `deployment_type`. The supervisor runs local processes and
// sandboxes; the Kubernetes driver runs `kubernetes_pod` bots as Deployments.
import { CodexError, type Bot } from '@ecps/codex-registry';
import type { KubernetesDriver } from '@ecps/codex-kubernetes';
import type { Supervisor } from '@ecps/codex-supervisor';

export interface DriverStartResult {
  status: 'ok' | 'already_running';
  bot: Bot;
}
export interface DriverStopResult {
  status: 'ok' | 'not_running';
  bot: Bot;
}

/** Something that runs bots of some deployment types. */
export interface DeploymentDriver {
  readonly name: string;
  readonly deploymentTypes: readonly string[];
  start(id: string): Promise<DriverStartResult>;
  stop(id: string, reason?: string): Promise<DriverStopResult>;
  /** Stops the bot if it runs, then removes it from the registry. */
  delete(id: string): Promise<boolean>;
  readLogs(id: string, stream: 'stdout' | 'stderr', tailBytes: number): Promise<string>;
  /** What it runs now, for `/self/runtime` and `/system/stats`. */
  running(): { bot_id: string; pid?: number; started_at: string }[];
  capabilities(): Record<string, unknown>;
  shutdown(): Promise<void>;
}

/** The part-1 supervisor as a driver of `local_process` and `sandbox` (and its aliases). */
export function supervisorDriver(supervisor: Supervisor): DeploymentDriver {
  return {
    name: 'supervisor',
    deploymentTypes: ['local_process', 'sandbox', 'container', 'custom_container'],
    start: (id) => supervisor.start(id),
    stop: (id, reason) => supervisor.stop(id, reason),
    delete: (id) => supervisor.delete(id),
    readLogs: (id, stream, tail) => supervisor.readLogs(id, stream, tail),
    running: () => supervisor.supervised().map((c) => ({ bot_id: c.bot_id, pid: c.pid, started_at: c.started_at })),
    capabilities: () => ({ sandbox: supervisor.capabilities() }),
    shutdown: () => supervisor.shutdown(),
  };
}

/** The Kubernetes driver (`kubernetes_pod`): bots run as Deployments; shutting down leaves them running. */
export function kubernetesDriver(driver: KubernetesDriver): DeploymentDriver {
  return {
    name: driver.name,
    deploymentTypes: driver.deploymentTypes,
    start: (id) => driver.start(id),
    stop: (id, reason) => driver.stop(id, reason),
    delete: (id) => driver.delete(id),
    readLogs: (id, stream, tail) => driver.readLogs(id, stream, tail),
    running: () => driver.running(),
    capabilities: () => driver.capabilities(),
    shutdown: () => driver.shutdown(),
  };
}

/** Picks the driver of a bot by its deployment type. */
export class Deployments {
  private readonly byType = new Map<string, DeploymentDriver>();

  constructor(readonly drivers: readonly DeploymentDriver[]) {
    for (const driver of drivers) for (const type of driver.deploymentTypes) if (!this.byType.has(type)) this.byType.set(type, driver);
  }

  /** Deployment types some driver can run. */
  types(): string[] {
    return [...this.byType.keys()];
  }

  /** Throws `CodexError` `unsupported_deployment_type` (400) when no driver runs this type. */
  driverFor(bot: Bot): DeploymentDriver {
    const driver = this.byType.get(bot.deployment_config.deployment_type);
    if (!driver) throw new CodexError('unsupported_deployment_type', `bot ${bot.id}: no driver runs deployment type ${bot.deployment_config.deployment_type}`);
    return driver;
  }

  running(): ReturnType<DeploymentDriver['running']> {
    return this.drivers.flatMap((d) => d.running());
  }

  async shutdown(): Promise<void> {
    await Promise.all(this.drivers.map((d) => d.shutdown()));
  }
}
