// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { CapabilityType as T } from '@ecps/peat';
import { DEFAULT_OPTIONS, matchesScope, parseDirective } from '../src/index';
import type { DeploymentScope, NodeProfile } from '../src/index';

const base = {
  directive_id: '0b8f6c1e-4d7a-4f51-9a57-3c2f8d8e9b10',
  issued_at: '2026-12-03T00:00:00Z',
  issuer_node_id: 'c2',
  issuer_formation_id: null,
  scope: { type: 'broadcast' },
  artifact: { blob_hash: `sha256:${'a'.repeat(64)}`, size_bytes: 10, artifact_type: { type: 'config_package', target_path: '/etc/x' }, sha256: null, name: 'x', version: '1' },
  capabilities: [],
  config: null,
};

describe('checklist 19: directives', () => {
  it('every scope and artifact variant round-trips through JSON', () => {
    const scopes: DeploymentScope[] = [
      { type: 'broadcast' },
      { type: 'formation', formation_id: 'cell-1' },
      { type: 'nodes', node_ids: ['a', 'b'] },
      { type: 'capability', min_gpu_memory_mb: 1024, min_memory_mb: null, min_storage_mb: 10, required_capabilities: ['SENSOR'], custom: { arch: ['arm64', 'x86_64'] } },
    ];
    const types = [
      { type: 'onnx_model', execution_providers: ['cuda', 'cpu'] },
      { type: 'container', runtime: 'podman', ports: [{ container_port: 80, host_port: 8080, protocol: 'udp' }], env: { A: '1' } },
      { type: 'native_binary', arch: 'aarch64', args: ['--fast'] },
      { type: 'config_package', target_path: '/etc/peat/x.toml' },
      { type: 'wasm_module', wasi_capabilities: ['fs'] },
    ];
    for (const scope of scopes)
      for (const artifact_type of types) {
        const d = parseDirective({ ...base, scope, artifact: { ...base.artifact, artifact_type }, options: { ...DEFAULT_OPTIONS, priority: 'high', rollback_threshold_percent: 50 } });
        expect(parseDirective(JSON.parse(JSON.stringify(d)))).toEqual(d);
        expect(d.scope).toEqual(scope);
        expect(d.artifact.artifact_type).toEqual(artifact_type);
      }
  });

  it('defaults: 300 s, normal, auto-activate, no replace, no threshold; a container port defaults to tcp', () => {
    const d = parseDirective(base);
    expect(d.options).toEqual({ priority: 'normal', timeout_seconds: 300, replace_existing: false, rollback_threshold_percent: null, auto_activate: true });
    const c = parseDirective({ ...base, artifact: { ...base.artifact, artifact_type: { type: 'container', ports: [{ container_port: 1, host_port: 2 }] } } });
    expect(c.artifact.artifact_type).toEqual({ type: 'container', runtime: 'docker', ports: [{ container_port: 1, host_port: 2, protocol: 'tcp' }], env: {} });
  });

  it('malformed directives are DECODE_ERROR; an unknown artifact type is kept for the node to refuse', () => {
    for (const bad of [{ ...base, scope: { type: 'galaxy' } }, { ...base, issued_at: 'yesterday' }, { ...base, options: { rollback_threshold_percent: 101 } }, { ...base, artifact: { ...base.artifact, size_bytes: -1 } }, null]) {
      expect(() => parseDirective(bad)).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
    }
    expect(parseDirective({ ...base, artifact: { ...base.artifact, artifact_type: { type: 'quantum' } } }).artifact.artifact_type).toEqual({ type: 'quantum' });
  });
});

describe('checklist 19: scope matching is real', () => {
  const node: NodeProfile = {
    node_id: 'n1',
    formation_ids: { mesh: 'ab12cd34', cell: 'cell-1', zone: 'zone-1', company: null },
    resources: { gpu_memory_mb: 2048, memory_mb: 4096, storage_mb: 100 },
    capabilities: [{ id: 'cam-1', name: 'eo-camera', capability_type: T.SENSOR }],
    attributes: { arch: 'arm64', tier: { level: 2 } },
  };
  const cap = (over: Partial<Extract<DeploymentScope, { type: 'capability' }>>): DeploymentScope => ({ type: 'capability', min_gpu_memory_mb: null, min_memory_mb: null, min_storage_mb: null, required_capabilities: [], custom: {}, ...over });

  it('formation: mesh, cell, zone or company id', () => {
    for (const id of ['ab12cd34', 'cell-1', 'zone-1']) expect(matchesScope({ type: 'formation', formation_id: id }, node)).toBe(true);
    expect(matchesScope({ type: 'formation', formation_id: 'cell-2' }, node)).toBe(false);
  });
  it('nodes and broadcast', () => {
    expect(matchesScope({ type: 'nodes', node_ids: ['n0', 'n1'] }, node)).toBe(true);
    expect(matchesScope({ type: 'nodes', node_ids: ['n0'] }, node)).toBe(false);
    expect(matchesScope({ type: 'broadcast' }, node)).toBe(true);
  });
  it('capability: resource minimums, capabilities by id, name or type, and custom attributes', () => {
    expect(matchesScope(cap({ min_gpu_memory_mb: 2048, min_memory_mb: 4096, min_storage_mb: 100 }), node)).toBe(true);
    expect(matchesScope(cap({ min_storage_mb: 101 }), node)).toBe(false);
    expect(matchesScope(cap({ required_capabilities: ['cam-1', 'eo-camera', 'sensor'] }), node)).toBe(true);
    expect(matchesScope(cap({ required_capabilities: ['COMPUTE'] }), node)).toBe(false);
    expect(matchesScope(cap({ custom: { arch: ['x86_64', 'arm64'], tier: { level: 2 } } }), node)).toBe(true);
    expect(matchesScope(cap({ custom: { arch: 'x86_64' } }), node)).toBe(false);
    expect(matchesScope(cap({ custom: { tier: { level: 3 } } }), node)).toBe(false);
    expect(matchesScope(cap({ custom: { missing: 1 } }), node)).toBe(false);
  });
});
