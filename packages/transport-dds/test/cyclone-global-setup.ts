// SPDX-License-Identifier: Apache-2.0
// Jest global setup: a loopback-only Cyclone DDS configuration with a discovery tag of its own for this run. It runs
// in the parent process, so CYCLONEDDS_URI reaches the real environment libddsc reads (a test file's process.env is
// a sandboxed copy) and every child process the tests start. Each test file uses a domain id of its own.
import { useCycloneLoopback } from '@ecps/testkit/cyclone';

export default function setup(): void {
  useCycloneLoopback();
}
