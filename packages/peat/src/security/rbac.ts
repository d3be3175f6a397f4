// SPDX-License-Identifier: Apache-2.0
// Roles, their permissions (spec §8.3) and the write rules checked on every signed change: who may write which
// collection.
import { PeatError } from '../errors';
import { Permission } from './certificate';
import type { MeshCertificate } from './certificate';

export type PeatRole = 'leader' | 'member' | 'observer' | 'commander' | 'admin';

export type PeatPermission =
  | 'SetCellObjective'
  | 'SetCellLeader'
  | 'RequestCapability'
  | 'ReadCellState'
  | 'WriteCellState'
  | 'ReadNodeState'
  | 'WriteNodeState'
  | 'ReadTelemetry'
  | 'DisbandCell'
  | 'JoinCell'
  | 'LeaveCell'
  | 'AdvertiseCapability'
  | 'FormPlatoon'
  | 'AggregateToCompany'
  | 'ApproveFormation'
  | 'VetoCommand'
  | 'CreateCell'
  | 'ConfigureNetwork'
  | 'ManageKeys'
  | 'ViewAuditLog';

export const ROLE_PERMISSIONS: Readonly<Record<PeatRole, readonly PeatPermission[]>> = {
  leader: ['SetCellObjective', 'SetCellLeader', 'RequestCapability', 'ReadCellState', 'WriteCellState', 'ReadNodeState', 'WriteNodeState', 'ReadTelemetry', 'DisbandCell'],
  member: ['JoinCell', 'LeaveCell', 'AdvertiseCapability', 'ReadCellState', 'ReadNodeState', 'WriteNodeState', 'ReadTelemetry'],
  observer: ['ReadCellState', 'ReadNodeState', 'ReadTelemetry'],
  commander: ['FormPlatoon', 'AggregateToCompany', 'ApproveFormation', 'VetoCommand', 'CreateCell', 'ReadCellState', 'WriteCellState', 'ReadNodeState', 'ReadTelemetry'],
  admin: ['ConfigureNetwork', 'ManageKeys', 'ViewAuditLog', 'CreateCell', 'DisbandCell'],
};

/** One write to authorize: who signed it and which document it touches. */
export interface WriteRequest {
  /** DeviceId of the signer. */
  readonly signer: string;
  readonly collection: string;
  readonly id: string;
}

/** Decides whether a signer may write a document; throws `PERMISSION_DENIED` when not. */
export interface WriteAuthorizer {
  authorize(request: WriteRequest): void;
}

const OWNER_ONLY: ReadonlySet<string> = new Set(['node_states', 'beacons']);

/**
 * Role-based write rules: `cells` needs WriteCellState or JoinCell (members write their own entry); `commands` needs the leader or commander role;
 * `deployment_*` needs commander or admin; `node_states` and `beacons` may be written only by their owner (the
 * document id is the node id); `deployment_status` ids end in the writing node's id. Everything else is open to
 * any member. Roles are assigned by the application (cell formation, elections); certificates with ADMIN add `admin`.
 */
export class RoleBasedAuthorizer implements WriteAuthorizer {
  private readonly roles = new Map<string, Set<PeatRole>>();

  constructor(private readonly defaultRoles: readonly PeatRole[] = ['member']) {}

  /** Replaces the roles of `nodeId`. */
  setRoles(nodeId: string, roles: readonly PeatRole[]): void {
    this.roles.set(nodeId, new Set(roles));
  }

  /** Adds the roles a certificate implies (ADMIN bit → `admin`). */
  addCertificate(cert: MeshCertificate): void {
    if ((cert.permissions & Permission.ADMIN) !== 0) this.setRoles(cert.nodeId, [...this.rolesOf(cert.nodeId), 'admin']);
  }

  rolesOf(nodeId: string): readonly PeatRole[] {
    return [...(this.roles.get(nodeId) ?? this.defaultRoles)];
  }

  can(nodeId: string, permission: PeatPermission): boolean {
    return this.rolesOf(nodeId).some((r) => ROLE_PERMISSIONS[r].includes(permission));
  }

  private hasRole(nodeId: string, ...roles: PeatRole[]): boolean {
    const own = this.rolesOf(nodeId);
    return roles.some((r) => own.includes(r));
  }

  /** @throws PeatError `PERMISSION_DENIED` naming the rule that failed. */
  authorize({ signer, collection, id }: WriteRequest): void {
    const deny = (rule: string): never => {
      throw new PeatError('PERMISSION_DENIED', `${signer} may not write ${collection}:${id}: ${rule}`, { details: { signer, collection, id } });
    };
    if (OWNER_ONLY.has(collection) && id !== signer) deny('only the owner writes it');
    if (collection === 'deployment_status' && !id.endsWith(`:${signer}`)) deny('only the reporting node writes its status');
    // members write their own member entry when they join (spec §1.1), so JoinCell suffices as well
    if (collection === 'cells' && !this.can(signer, 'WriteCellState') && !this.can(signer, 'JoinCell')) deny('needs WriteCellState or JoinCell');
    if (collection === 'commands' && !this.hasRole(signer, 'leader', 'commander')) deny('needs the leader or commander role');
    if (collection.startsWith('deployment_') && collection !== 'deployment_status' && !this.hasRole(signer, 'commander', 'admin')) {
      deny('needs the commander or admin role');
    }
  }
}
