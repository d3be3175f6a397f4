// SPDX-License-Identifier: Apache-2.0
// How a node shares its cell state (beacons, proposals, joins, the bootstrap result, roles, the coordinator's
// status, node states, disbanding) with the others. Two implementations: `mediumChannel` sends one message per
// event on a NodeMedium (the light mode, for very large simulations and the plain broker bridge);
// `documentChannel` writes @ecps/peat documents (`beacons`, `cells`, `node_configs`, `node_states`) that the
// replica syncs to its authenticated peers, signed change by change, and reads the others' writes back from
// the replica's observer.
import type { Logger } from '@ecps/core';
import { orSetAdd, orSetRemove } from '@ecps/peat';
import type { ChangeEvent, NodeConfig, NodeState, PeatReplica } from '@ecps/peat';
import type { Beacon, BootstrapStatus, CellRole, CellStatus, LeaderRecord } from '@ecps/peat-cell';
import type { NodeMessage } from './medium';

/** The roles the leader assigned, with their fitness. */
export type RoleTable = Readonly<Record<string, { readonly role: CellRole; readonly score: number }>>;

/** What a node tells the others. */
export interface CellOutbox {
  beacon(b: Beacon): void;
  /** The initiator proposes a cell to its cluster (and runs its bootstrap). */
  propose(cellId: string, members: readonly string[], maxSize: number): void;
  join(cellId: string, config: NodeConfig): void;
  bootstrap(cellId: string, status: BootstrapStatus, members: readonly string[]): void;
  /** The elected leader records itself and its deputy. */
  leader(cellId: string, leader: LeaderRecord, deputy: string | null): void;
  roles(cellId: string, roles: RoleTable): void;
  status(cellId: string, status: CellStatus, members: readonly string[], approval: { approved_by: string; approved_at: number } | null): void;
  state(cellId: string, state: NodeState): void;
  disband(cellId: string): void;
  leave(cellId: string): void;
}

/** A merge the leader of a degraded cell committed (§5.1): a new cell of both cells' members. */
export interface MergeCommit {
  readonly cellId: string;
  readonly mergedFrom: readonly [string, string];
  readonly members: readonly string[];
  readonly maxSize: number;
}

/** What a node hears; `from` is the authenticated sender where the channel knows it. */
export interface CellInbox {
  beacon(b: Beacon): void;
  proposed(from: string, cellId: string, members: readonly string[]): void;
  joined(from: string, cellId: string, config: NodeConfig): void;
  bootstrapped(cellId: string, status: BootstrapStatus, members: readonly string[]): void;
  roles(cellId: string, roles: Readonly<Record<string, CellRole>>): void;
  status(from: string, cellId: string, status: CellStatus, members: readonly string[]): void;
  state(from: string, cellId: string, state: NodeState): void;
  disbanded(from: string, cellId: string): void;
  merged(commit: MergeCommit): void;
}

export interface CellChannel extends CellOutbox {
  /** Stops listening. */
  close(): void;
}

/** The other cells a leader can merge with (the `cells` documents it holds), and the commit of a merge. */
export interface MergeSupport {
  cells(): Promise<{ cell_id: string; members: string[]; max_size: number; timestamp: number }[]>;
  /** Writes the merged cell (bootstrap Completed), then, when `tombstoneAfter` calls back, tombstones the two old ones. */
  commitMerge(commit: MergeCommit, tombstoneAfter: (fn: () => void) => void): void;
}

/** Cell state as messages on a medium (one per event). */
export function mediumChannel(send: (m: NodeMessage) => void): CellOutbox & { receive(from: string, m: NodeMessage, inbox: CellInbox): boolean } {
  return {
    beacon: (beacon) => send({ kind: 'beacon', beacon }),
    propose: (cell_id, members) => send({ kind: 'propose', cell_id, members }),
    join: (cell_id, config) => send({ kind: 'join', cell_id, config }),
    bootstrap: (cell_id, bootstrap_status, members) => send({ kind: 'cell', cell_id, bootstrap_status, members, status: null }),
    leader: () => undefined, // the election's LeaderAnnounce already told everyone
    roles: (cell_id, roles) => send({ kind: 'role', cell_id, roles: Object.fromEntries(Object.entries(roles).map(([id, r]) => [id, r.role])) }),
    status: (cell_id, status, members) => send({ kind: 'cell', cell_id, bootstrap_status: 'Completed', members, status: JSON.stringify(status) }),
    state: (cell_id, state) => send({ kind: 'state', cell_id, state }),
    disband: (cell_id) => send({ kind: 'disband', cell_id }),
    leave: () => undefined, // the bus Leave says it
    receive(from, m, inbox) {
      switch (m.kind) {
        case 'beacon':
          inbox.beacon(m.beacon);
          return true;
        case 'propose':
          inbox.proposed(from, m.cell_id, m.members);
          return true;
        case 'join':
          inbox.joined(from, m.cell_id, m.config);
          return true;
        case 'cell':
          if (m.status === null) inbox.bootstrapped(m.cell_id, m.bootstrap_status, m.members);
          else inbox.status(from, m.cell_id, JSON.parse(m.status) as CellStatus, m.members);
          return true;
        case 'role':
          inbox.roles(m.cell_id, m.roles);
          return true;
        case 'state':
          inbox.state(from, m.cell_id, m.state);
          return true;
        case 'disband':
          inbox.disbanded(from, m.cell_id);
          return true;
        default:
          return false;
      }
    },
  };
}

type CellDoc = Record<string, unknown> & {
  cell_id?: string;
  initiator?: string;
  proposed?: string[];
  bootstrap_status?: BootstrapStatus;
  members?: Record<string, { joined_at?: number; role?: CellRole | null; role_score?: number }>;
  roles_by?: string;
  status?: CellStatus | null;
  status_by?: string;
  merged_from?: [string, string];
  config?: { max_size?: number };
};

export interface DocumentChannelOptions {
  readonly replica: PeatReplica;
  readonly inbox: CellInbox;
  readonly now: () => number;
  readonly logger: Logger;
}

/**
 * Cell state as @ecps/peat documents. Writes go through one queue per node (so they apply in the order the node
 * made them); every remote change is read back and handed to the inbox, in arrival order. A write the replica
 * refuses (a tombstoned cell, RBAC) is logged and counted, never thrown at the state machine.
 */
export function documentChannel({ replica, inbox, now, logger }: DocumentChannelOptions): CellChannel & MergeSupport & { readonly stats: { writes: number; failedWrites: number; reads: number } } {
  const me = replica.nodeId;
  const stats = { writes: 0, failedWrites: 0, reads: 0 };
  let writes: Promise<unknown> = Promise.resolve();
  let reads: Promise<unknown> = Promise.resolve();
  let closed = false;
  const write = (what: string, fn: () => Promise<unknown>) => {
    writes = writes.then(async () => {
      if (closed) return;
      try {
        await fn();
        stats.writes++;
      } catch (error) {
        stats.failedWrites++;
        logger.debug('peat node: document write refused', { node: me, what, error: String(error) });
      }
    });
  };
  const configs = new Map<string, NodeConfig>();

  const onCell = async (id: string, removed: boolean) => {
    if (removed) {
      const t = replica.store.liveTombstone(`cells:${id}`);
      inbox.disbanded(t?.deletedBy ?? '', id);
      return;
    }
    const doc = await replica.get<CellDoc>('cells', id);
    if (!doc) return;
    if (doc.proposed && doc.initiator && doc.bootstrap_status === 'InProgress') inbox.proposed(doc.initiator, id, doc.proposed);
    const members = Object.keys(doc.members ?? {}).sort();
    if (doc.merged_from) inbox.merged({ cellId: id, mergedFrom: doc.merged_from, members, maxSize: doc.config?.max_size ?? members.length });
    for (const m of members) {
      const config = configs.get(m);
      if (config) inbox.joined(m, id, config);
    }
    if (doc.bootstrap_status && doc.bootstrap_status !== 'InProgress' && doc.bootstrap_status !== 'NotStarted') inbox.bootstrapped(id, doc.bootstrap_status, members);
    const roles = Object.fromEntries(Object.entries(doc.members ?? {}).flatMap(([m, e]) => (e.role ? [[m, e.role]] : [])));
    if (Object.keys(roles).length > 0) inbox.roles(id, roles);
    if (doc.status && doc.status_by) inbox.status(doc.status_by, id, doc.status, members);
  };
  const cellsOf = new Map<string, string>(); // member → the cell its config was last heard for
  const onEvent = (e: ChangeEvent) => {
    if (e.origin !== 'remote' || closed) return;
    reads = reads.then(async () => {
      if (closed) return;
      stats.reads++;
      try {
        switch (e.collection) {
          case 'beacons': {
            const b = await replica.get<Beacon & Record<string, unknown>>('beacons', e.id);
            if (b && !e.removed) inbox.beacon(b);
            return;
          }
          case 'node_configs': {
            const c = await replica.get<NodeConfig & Record<string, unknown>>('node_configs', e.id);
            if (!c || e.removed) return;
            configs.set(e.id, c);
            const cell = cellsOf.get(e.id);
            if (cell) inbox.joined(e.id, cell, c);
            return;
          }
          case 'cells': {
            const doc = e.removed ? undefined : await replica.get<CellDoc>('cells', e.id);
            for (const m of Object.keys(doc?.members ?? {})) cellsOf.set(m, e.id);
            await onCell(e.id, e.removed === true);
            return;
          }
          case 'node_states': {
            const s = await replica.get<NodeState & Record<string, unknown>>('node_states', e.id);
            if (s?.cell_id && !e.removed) inbox.state(e.id, s.cell_id, s);
            return;
          }
          default:
            return;
        }
      } catch (error) {
        logger.debug('peat node: document read failed', { node: me, key: e.key, error: String(error) });
      }
    });
  };
  const unobserve = replica.observe(onEvent);

  return {
    stats,
    beacon: (b) => write('beacon', () => replica.put('beacons', me, b as unknown as Record<string, unknown>)),
    propose: (cellId, members, maxSize) =>
      write('propose', () =>
        replica.change('cells', cellId, (d) => {
          d.cell_id = cellId;
          d.initiator = me;
          d.proposed = [...members];
          d.config = { id: cellId, max_size: maxSize, min_size: 2, created_at: now() };
          d.bootstrap_status = 'InProgress';
          d.timestamp = now();
        }),
      ),
    join: (cellId, config) => {
      write('config', () => replica.put('node_configs', me, config as unknown as Record<string, unknown>));
      write('join', () => replica.change('cells', cellId, (d) => orSetAdd(d, 'members', me, { joined_at: now(), role: null, role_score: 0 })));
    },
    bootstrap: (cellId, status) =>
      write('bootstrap', () =>
        replica.change('cells', cellId, (d) => {
          d.bootstrap_status = status;
          d.timestamp = now();
        }),
      ),
    leader: (cellId, leader, deputy) => {
      write('leader', () => replica.setLeader('cells', cellId, { ...leader }));
      write('deputy', () =>
        replica.change('cells', cellId, (d) => {
          d.deputy_id = deputy;
        }),
      );
    },
    roles: (cellId, roles) =>
      write('roles', () =>
        replica.change('cells', cellId, (d) => {
          const members = d.members as Record<string, Record<string, unknown>> | undefined;
          for (const [id, r] of Object.entries(roles)) {
            const entry = members?.[id];
            if (!entry) continue;
            if (entry.role !== r.role) entry.role = r.role;
            if (entry.role_score !== r.score) entry.role_score = r.score;
          }
          d.roles_by = me;
        }),
      ),
    status: (cellId, status, _members, approval) =>
      write('status', () =>
        replica.change('cells', cellId, (d) => {
          d.status = { ...status };
          d.status_by = me;
          d.approval = approval ? { ...approval } : null;
          d.timestamp = now();
        }),
      ),
    state: (_cellId, state) => write('state', () => replica.put('node_states', me, state as unknown as Record<string, unknown>)),
    disband: (cellId) => write('disband', () => replica.delete('cells', cellId, 'disbanded')),
    leave: (cellId) => write('leave', () => replica.change('cells', cellId, (d) => orSetRemove(d, 'members', me))),
    async cells() {
      const out = [];
      for (const id of await replica.list('cells')) {
        const doc = await replica.get<CellDoc>('cells', id);
        if (!doc || doc.bootstrap_status === 'InProgress' || doc.bootstrap_status === 'Failed') continue;
        out.push({ cell_id: id, members: Object.keys(doc.members ?? {}).sort(), max_size: doc.config?.max_size ?? 0, timestamp: typeof doc['timestamp'] === 'number' ? doc['timestamp'] : 0 });
      }
      return out;
    },
    commitMerge(commit, tombstoneAfter) {
      write('merge', () =>
        replica.change('cells', commit.cellId, (d) => {
          d.cell_id = commit.cellId;
          d.config = { id: commit.cellId, max_size: commit.maxSize, min_size: 2, created_at: now() };
          for (const m of commit.members) orSetAdd(d, 'members', m, { joined_at: now(), role: null, role_score: 0 });
          d.merged_from = [...commit.mergedFrom];
          d.bootstrap_status = 'Completed'; // a cell created by a merge is complete from the start
          d.timestamp = now();
        }),
      );
      tombstoneAfter(() => {
        for (const old of commit.mergedFrom) write('merge tombstone', () => replica.delete('cells', old, `merged into ${commit.cellId}`));
      });
    },
    close() {
      closed = true;
      unobserve();
    },
  };
}
