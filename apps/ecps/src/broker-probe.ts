// SPDX-License-Identifier: Apache-2.0
// Is an MQTT broker there? Asked once before a command builds on it, so that a wrong URL fails in about 2 s with the
// socket's reason instead of after the transport's retries.
import { TransportError } from '@ecps/core';
import { mqttTransport } from '@ecps/transport-mqtt';

/**
 * One MQTT 3.1.1 connection without retries: a refused connection fails at once, a silent host after `timeoutMs`.
 * @throws TransportError `UNAVAILABLE` naming the URL and the reason (ECONNREFUSED, ENOTFOUND, a CONNACK refusal, no answer).
 */
export async function probeBroker(url: string, timeoutMs = 2_000): Promise<void> {
  const probe = mqttTransport({ url, nodeId: `ecps-probe-${process.pid}`, protocolVersion: 4, connectTimeoutMs: timeoutMs, reconnect: false });
  try {
    await probe.connect();
  } catch (cause) {
    // the transport's error carries the socket's; none, or mqtt.js's own CONNACK timer (it races ours): a timeout
    const inner = (cause as { cause?: unknown }).cause;
    const why = inner instanceof Error && !/connack timeout/i.test(inner.message) ? inner.message : `no answer within ${timeoutMs} ms`;
    throw new TransportError('UNAVAILABLE', `cannot reach the MQTT broker at ${url}: ${why}`, { cause, details: { url } });
  } finally {
    await probe.close().catch(() => undefined);
  }
}
