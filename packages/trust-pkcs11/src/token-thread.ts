// SPDX-License-Identifier: Apache-2.0
// The one worker thread of the process that makes PKCS#11 calls (C_Initialize and login state are per process, so
// every provider shares it), and the promise-based calls into it.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { TrustError } from '@ecps/trust';
import { pkcs11Error } from './errors';
import { tokenWorkerMain, type TokenOp, type TokenResponse } from './token-worker';

const ECPS_CODES = new Set(['CLOSED', 'TOKEN_ABSENT', 'KEY_NOT_FOUND', 'ALREADY_EXISTS', 'MECHANISM_UNSUPPORTED']);

/** Calls into the token worker; shared by every provider of the process and ended with the last one. */
export class TokenThread {
  private static shared: TokenThread | undefined;
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void; what: string }>();
  private nextId = 1;
  private users = 0;

  private constructor() {
    const graphenePath = createRequire(import.meta.url).resolve('graphene-pk11');
    // Started from source text, so the same code runs from the sources, the ESM build and the CJS build.
    const source = `const { parentPort, workerData } = require('node:worker_threads');\n(${tokenWorkerMain.toString()})(require, workerData, parentPort);`;
    this.worker = new Worker(source, { eval: true, workerData: graphenePath });
    this.worker.unref(); // an idle provider does not keep the process alive; pending calls do (see call)
    this.worker.on('message', (response: TokenResponse) => this.settle(response));
    const fail = (error: unknown) => {
      for (const p of this.pending.values()) p.reject(new TrustError('UNAVAILABLE', `PKCS#11 worker stopped: ${String(error)}`, { cause: error }));
      this.pending.clear();
      if (TokenThread.shared === this) TokenThread.shared = undefined;
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(`exit ${code}`));
  }

  /** The process's token thread, started on first use. Pair with {@link TokenThread.release}. */
  static acquire(): TokenThread {
    const thread = (TokenThread.shared ??= new TokenThread());
    thread.users++;
    return thread;
  }

  /** Ends the thread when its last user releases it. */
  async release(): Promise<void> {
    if (--this.users > 0) return;
    if (TokenThread.shared === this) TokenThread.shared = undefined;
    await this.worker.terminate();
  }

  /**
   * Runs `op` on the token. Rejects with the worker's ECPS code when it has one, else with the code of the CKR_*
   * value (see {@link pkcs11Error}), prefixed by `what`.
   */
  call<T>(op: TokenOp, what: string, ...args: unknown[]): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, what });
      this.worker.postMessage({ id, op, args });
    });
  }

  private settle(response: TokenResponse): void {
    const p = this.pending.get(response.id);
    if (!p) return;
    this.pending.delete(response.id);
    if (this.pending.size === 0) this.worker.unref();
    if (!response.error) return p.resolve(response.value);
    const { code, message } = response.error;
    p.reject(code && ECPS_CODES.has(code) ? new TrustError(code as 'CLOSED', message) : pkcs11Error(new Error(message), p.what));
  }
}
