// SPDX-License-Identifier: Apache-2.0
// A RuntimeAdapter for `config_package` artifacts: activation installs the verified file at its target path
// (written beside it, then renamed, so readers never see half a file); deactivation removes it unless a newer
// instance has since taken the path. Restoring a replaced instance re-installs the previous artifact.
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PeatError } from '@ecps/peat';
import type { ArtifactType } from './directive';
import type { InstanceState, RuntimeAdapter } from './agent';

export class ConfigPackageAdapter implements RuntimeAdapter {
  readonly name = 'config_package';
  /** target path → the instance that installed what is there now */
  private readonly current = new Map<string, string>();
  private readonly targets = new Map<string, string>();
  private seq = 0;

  canHandle(type: ArtifactType): boolean {
    return type.type === 'config_package';
  }

  async activate(type: ArtifactType, _config: unknown, localPath: string): Promise<string> {
    if (type.type !== 'config_package') throw new PeatError('UNSUPPORTED', `config_package adapter cannot run ${type.type}`);
    await mkdir(dirname(type.target_path), { recursive: true });
    const tmp = `${type.target_path}.${randomBytes(6).toString('hex')}.tmp`;
    await copyFile(localPath, tmp);
    await rename(tmp, type.target_path);
    const id = `config-${++this.seq}`;
    this.current.set(type.target_path, id);
    this.targets.set(id, type.target_path);
    return id;
  }

  async deactivate(instanceId: string): Promise<void> {
    const target = this.targets.get(instanceId);
    if (target === undefined) return;
    this.targets.delete(instanceId);
    if (this.current.get(target) !== instanceId) return; // a newer instance owns the path
    this.current.delete(target);
    await rm(target, { force: true });
  }

  async health(instanceId: string): Promise<InstanceState> {
    const target = this.targets.get(instanceId);
    if (target === undefined) return { type: 'Stopped' };
    if (this.current.get(target) !== instanceId) return { type: 'Degraded', reason: 'superseded' };
    return stat(target).then(
      () => ({ type: 'Running' }) as const,
      () => ({ type: 'Failed', error: `${target} is missing` }) as const,
    );
  }
}
