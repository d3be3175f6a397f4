// SPDX-License-Identifier: Apache-2.0
// A RuntimeAdapter for `config_package` artifacts: activation installs the verified file at its target path
// (written beside it, then renamed, so readers never see half a file); deactivation removes it unless a newer
// instance has since taken the path. Restoring a replaced instance re-installs the previous artifact.
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { PeatError } from '@ecps/peat';
import type { ArtifactType } from './directive';
import type { InstanceState, RuntimeAdapter } from './agent';

export interface ConfigPackageOptions {
  /**
   * The node's configuration root: target paths are resolved inside it, and one that would land outside it is
   * refused. Without it, target paths are used as given.
   */
  readonly root?: string;
}

export class ConfigPackageAdapter implements RuntimeAdapter {
  readonly name = 'config_package';
  /** target path → the instance that installed what is there now */
  private readonly current = new Map<string, string>();
  private readonly targets = new Map<string, string>();
  private seq = 0;

  constructor(private readonly options: ConfigPackageOptions = {}) {}

  /** Where a target path lands. @throws PeatError `PERMISSION_DENIED` for a path outside the root. */
  targetOf(targetPath: string): string {
    const root = this.options.root;
    if (root === undefined) return targetPath;
    const target = resolve(root, targetPath.replace(/^\/+/, ''));
    const rel = relative(root, target);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new PeatError('PERMISSION_DENIED', `config_package target ${targetPath} is outside ${root}`);
    return target;
  }

  canHandle(type: ArtifactType): boolean {
    return type.type === 'config_package';
  }

  async activate(type: ArtifactType, _config: unknown, localPath: string): Promise<string> {
    if (type.type !== 'config_package') throw new PeatError('UNSUPPORTED', `config_package adapter cannot run ${type.type}`);
    const target = this.targetOf(type.target_path);
    await mkdir(dirname(target), { recursive: true });
    const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    await copyFile(localPath, tmp);
    await rename(tmp, target);
    const id = `config-${++this.seq}`;
    this.current.set(target, id);
    this.targets.set(id, target);
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
