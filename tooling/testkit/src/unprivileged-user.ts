// SPDX-License-Identifier: Apache-2.0
// An unprivileged account for servers that refuse to run as root (PostgreSQL) and for sandbox tests.
import { execFileSync } from 'node:child_process';

export interface UnprivilegedUser {
  name: string;
  uid: number;
  gid: number;
  /** The command prefix that runs a program as this user: `setpriv --reuid … --regid … --clear-groups --`. */
  prefix: string[];
}

/** The dedicated test account; `tooling/scripts/setup.sh` creates it, and so does {@link unprivilegedUser} when run as root. */
export const TEST_USER = 'ecps-test';

function lookup(name: string): { uid: number; gid: number } | null {
  try {
    const [, , uid, gid] = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim().split(':');
    return { uid: Number(uid), gid: Number(gid) };
  } catch {
    return null;
  }
}

/**
 * When this process is root: the `ecps-test` system account (created with `useradd --system` if missing) and the
 * prefix that runs a command as it. When not root: null (run commands as yourself).
 */
export function unprivilegedUser(): UnprivilegedUser | null {
  if (process.getuid?.() !== 0) return null;
  let ids = lookup(TEST_USER);
  if (!ids) {
    try {
      execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', TEST_USER], { stdio: 'ignore' });
    } catch {
      // another test process created it at the same moment; the lookup below decides
    }
    ids = lookup(TEST_USER);
    if (!ids) throw new Error(`cannot create the unprivileged test account ${TEST_USER} (useradd failed); run tooling/scripts/setup.sh as root`);
  }
  return { name: TEST_USER, ...ids, prefix: ['setpriv', `--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--clear-groups', '--'] };
}
