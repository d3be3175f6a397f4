// SPDX-License-Identifier: Apache-2.0
// kubectl as a second, independent client of the Kubernetes test server (Debian's `kubernetes-client`).
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `ECPS_KUBECTL`, else the first `kubectl` on PATH; null when there is none. */
export function kubectlPath(): string | null {
  const candidates = [process.env['ECPS_KUBECTL'], ...(process.env['PATH'] ?? '').split(delimiter).map((dir) => join(dir, 'kubectl'))];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * Runs `kubectl --kubeconfig <file> <args…>` with its discovery cache beside the kubeconfig (so nothing is written to
 * the user's home); never throws for a non-zero exit (the result carries it).
 */
export function runKubectl(kubeconfig: string, args: readonly string[], input?: string): Promise<KubectlResult> {
  const binary = kubectlPath();
  if (!binary) throw new Error('kubectl is not installed (apt-get install kubernetes-client, or set ECPS_KUBECTL)');
  return new Promise((resolve) => {
    const child = execFile(binary, ['--kubeconfig', kubeconfig, '--cache-dir', join(dirname(kubeconfig), '.kube-cache'), ...args], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, KUBECONFIG: kubeconfig } }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as NodeJS.ErrnoException).code === 'number' ? ((error as NodeJS.ErrnoException).code as unknown as number) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}
