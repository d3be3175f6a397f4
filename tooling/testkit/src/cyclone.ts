// SPDX-License-Identifier: Apache-2.0
// Cyclone DDS configurations for tests: loopback only (Cyclone's default uses the external interface and multicast),
// unicast discovery to the local ports, and a discovery tag that keeps concurrent test runs on one machine apart.
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';

export interface CycloneLoopbackOptions {
  /** Discovery tag; participants with another tag ignore each other. Default: a fresh random one. */
  tag?: string;
  /** Highest participant index discovery probes (participants per domain on this machine). Default 32. */
  maxParticipants?: number;
}

/**
 * A Cyclone DDS configuration (XML, usable as `CYCLONEDDS_URI`) that keeps every domain on 127.0.0.1: no multicast,
 * unicast discovery to the local participant ports, writers that linger at most 100 ms on deletion.
 */
export function cycloneLoopbackConfig(options: CycloneLoopbackOptions = {}): string {
  const tag = options.tag ?? `ecps-test-${randomBytes(6).toString('hex')}`;
  if (!/^[A-Za-z0-9._-]+$/.test(tag)) throw new Error(`invalid discovery tag ${JSON.stringify(tag)}`);
  return [
    '<CycloneDDS><Domain id="any">',
    '<General><Interfaces><NetworkInterface address="127.0.0.1" multicast="false"/></Interfaces><AllowMulticast>false</AllowMulticast></General>',
    `<Discovery><Tag>${tag}</Tag><ParticipantIndex>auto</ParticipantIndex><MaxAutoParticipantIndex>${options.maxParticipants ?? 32}</MaxAutoParticipantIndex>`,
    '<Peers><Peer address="127.0.0.1"/></Peers></Discovery>',
    '<Internal><WriterLingerDuration>100 ms</WriterLingerDuration></Internal>',
    '</Domain></CycloneDDS>',
  ].join('');
}

/** Sets `CYCLONEDDS_URI` to a fresh loopback configuration in this process's environment (Jest `globalSetup`). */
export function useCycloneLoopback(options: CycloneLoopbackOptions = {}): string {
  const config = cycloneLoopbackConfig(options);
  process.env['CYCLONEDDS_URI'] = config;
  return config;
}

/** Whether Cyclone DDS's tools are installed (`ddsperf`, `idlc`), for tests that run them. */
export function cycloneToolsAvailable(): boolean {
  try {
    execFileSync('ddsperf', ['help'], { stdio: 'ignore' });
  } catch (error) {
    // `ddsperf help` prints usage and exits 3; only a missing binary is a problem
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
  }
  try {
    execFileSync('idlc', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
