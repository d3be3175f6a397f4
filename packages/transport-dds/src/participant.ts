// SPDX-License-Identifier: Apache-2.0
// One DDS domain participant and the entities in it: topics (shared, counted), writers, readers, and the events
// Cyclone's listener threads relay to this thread, routed to whoever owns the entity.
import { TransportError, type Logger } from '@ecps/core';
import { loadBinding, type NativeBinding, type NativeObject, type NativeQos, type SampleTypeId } from './native';

export interface ParticipantOptions {
  /** DDS domain id; default: the one in the Cyclone configuration (0 unless it says otherwise). */
  domainId?: number;
  /**
   * A Cyclone configuration (XML, or `file://...`) for this domain, instead of the one `CYCLONEDDS_URI` names.
   * Every participant of one domain in a process shares one configuration.
   */
  config?: string;
  /** USER_DATA of the participant (what peers see in discovery). */
  userData?: Uint8Array;
  /** Another build of the native binding (tests). */
  bindingPath?: string;
  logger: Logger;
}

export type EntityEventHandler = (kind: number, value: number) => void;

/** Domains this process created with an explicit configuration, shared by their participants. */
const explicitDomains = new Map<number, { handle: number; config: string; users: number }>();

/** Loggers of open participants; Cyclone's own warnings and errors go to each (its log is process-wide). */
const cycloneLoggers = new Set<Logger>();
const LOG_ERROR_MASK = 1 | 2; // DDS_LC_FATAL | DDS_LC_ERROR
const LOG_WARNING = 4;

function forwardCycloneLog(binding: NativeBinding): void {
  binding.setLogSink(
    cycloneLoggers.size === 0
      ? null
      : (priority: number, text: string) => {
          for (const logger of cycloneLoggers) {
            if (priority & LOG_ERROR_MASK) logger.error(`cyclone: ${text}`);
            else if (priority & LOG_WARNING) logger.warn(`cyclone: ${text}`);
          }
        },
  );
}

function acquireDomain(binding: NativeBinding, domainId: number, config: string): void {
  const known = explicitDomains.get(domainId);
  if (known) {
    if (known.config !== config) {
      throw new TransportError('CONFIG_INVALID', `DDS domain ${domainId} already runs with another configuration in this process`, {
        details: { domainId },
      });
    }
    known.users++;
    return;
  }
  let handle: number;
  try {
    handle = binding.createDomain(domainId, config);
  } catch (cause) {
    throw new TransportError('CONFIG_INVALID', `cannot create DDS domain ${domainId} with the given configuration: ${String(cause)}`, {
      cause,
      details: { domainId },
    });
  }
  explicitDomains.set(domainId, { handle, config, users: 1 });
}

function releaseDomain(binding: NativeBinding, domainId: number): void {
  const known = explicitDomains.get(domainId);
  if (!known || --known.users > 0) return;
  explicitDomains.delete(domainId);
  binding.deleteEntity(known.handle);
}

export class Participant {
  readonly binding: NativeBinding;
  readonly handle: number;
  private readonly native: NativeObject;
  private readonly routes = new Map<number, EntityEventHandler>();
  private readonly topics = new Map<string, { handle: number; users: number }>();
  private closed = false;

  /**
   * @throws TransportError `TRANSPORT_UNAVAILABLE` without the native binding or libddsc, `CONFIG_INVALID` for a
   * configuration Cyclone refuses, `UNAVAILABLE` when the participant cannot be created (e.g. no usable interface).
   */
  constructor(private readonly options: ParticipantOptions) {
    this.binding = loadBinding(options.bindingPath);
    const domainId = options.domainId ?? -1;
    if (options.config !== undefined) acquireDomain(this.binding, Math.max(0, domainId), options.config);
    try {
      this.native = this.binding.createParticipant(domainId, options.userData ? { userData: options.userData } : {}, (handle, kind, value) =>
        this.routes.get(handle)?.(kind, value),
      );
    } catch (cause) {
      if (options.config !== undefined) releaseDomain(this.binding, Math.max(0, domainId));
      throw new TransportError('UNAVAILABLE', `cannot create a DDS participant: ${String(cause)}`, { cause });
    }
    this.handle = this.binding.participantHandle(this.native);
    cycloneLoggers.add(options.logger);
    forwardCycloneLog(this.binding);
  }

  /** The topic entity for `name`, created on first use; give it back with {@link releaseTopic}. */
  acquireTopic(name: string, type: SampleTypeId): number {
    const key = `${type}:${name}`;
    let topic = this.topics.get(key);
    if (!topic) {
      topic = { handle: this.binding.createTopic(this.handle, name, type, {}), users: 0 };
      this.topics.set(key, topic);
    }
    topic.users++;
    return topic.handle;
  }

  releaseTopic(name: string, type: SampleTypeId): void {
    const key = `${type}:${name}`;
    const topic = this.topics.get(key);
    if (!topic || --topic.users > 0) return;
    this.topics.delete(key);
    if (!this.closed) this.binding.deleteEntity(topic.handle);
  }

  /** A publisher or subscriber with these partitions (for peers that use partitions, like ddsperf's pongs). */
  createGroup(kind: 'publisher' | 'subscriber', partitions: readonly string[]): number {
    return kind === 'publisher'
      ? this.binding.createPublisher(this.handle, { partitions })
      : this.binding.createSubscriber(this.handle, { partitions });
  }

  createWriter(topic: number, qos: NativeQos, onEvent?: EntityEventHandler, parent = this.handle): number {
    const writer = this.binding.createWriter(this.native, parent, topic, qos);
    if (onEvent) this.routes.set(writer, onEvent);
    return writer;
  }

  createReader(topic: number, qos: NativeQos, onEvent: EntityEventHandler, parent = this.handle): { reader: NativeObject; handle: number } {
    const reader = this.binding.createReader(this.native, parent, topic, qos);
    const handle = this.binding.readerHandle(reader);
    this.routes.set(handle, onEvent);
    return { reader, handle };
  }

  /** A reader of the DCPSPublication built-in topic: every writer in the domain, as it is discovered. */
  createPublicationReader(onEvent: EntityEventHandler): NativeObject {
    const reader = this.binding.createPublicationReader(this.native);
    this.routes.set(this.binding.readerHandle(reader), onEvent);
    return reader;
  }

  deleteWriter(handle: number): void {
    this.routes.delete(handle);
    if (!this.closed) this.binding.deleteEntity(handle);
  }

  deleteReader(reader: NativeObject, handle: number): void {
    this.routes.delete(handle);
    this.binding.deleteReader(reader);
  }

  /** Deletes the participant and everything in it. Idempotent; events still in flight are dropped. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.routes.clear();
    this.topics.clear();
    this.binding.deleteParticipant(this.native);
    if (this.options.config !== undefined) releaseDomain(this.binding, Math.max(0, this.options.domainId ?? 0));
    cycloneLoggers.delete(this.options.logger);
    forwardCycloneLog(this.binding);
  }
}
