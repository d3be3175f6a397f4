// SPDX-License-Identifier: Apache-2.0
// Throwaway PKI for TLS tests: a CA, a server certificate for localhost/127.0.0.1 and a client certificate,
// made with the `openssl` CLI (Debian package `openssl`, listed in tooling/scripts/apt-packages.txt).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificates {
  /** PEM of the CA that signed both certificates. */
  ca: string;
  server: { cert: string; key: string };
  /** A client certificate with CN `client`. */
  client: { cert: string; key: string };
  /** One client certificate per name asked for, each with that name as CN and as SAN `URI:urn:ecps:<name>`. */
  clients: Record<string, { cert: string; key: string }>;
  /** A second, unrelated CA with a client certificate it signed: what mutual TLS must refuse. */
  rogue: { ca: string; cert: string; key: string };
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`]);
}

function makeLeaf(dir: string, ca: string, name: string, ext: string, cn = name): void {
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
}

/**
 * Generates fresh certificates in a temporary directory (removed before returning). Needs `openssl` on PATH.
 * `clientNames` adds a client certificate per node id (for tests that bind node ids to certificates).
 */
export function generateTestCertificates(options: { clientNames?: readonly string[] } = {}): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'ecps-pki-'));
  try {
    makeCa(dir, 'ca');
    makeCa(dir, 'rogue-ca');
    makeLeaf(dir, 'ca', 'server', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    makeLeaf(dir, 'ca', 'client', 'extendedKeyUsage=clientAuth\n');
    makeLeaf(dir, 'rogue-ca', 'rogue', 'extendedKeyUsage=clientAuth\n');
    const names = options.clientNames ?? [];
    for (const name of names) makeLeaf(dir, 'ca', `node-${name}`, `subjectAltName=URI:urn:ecps:${name}\nextendedKeyUsage=clientAuth\n`, name);
    const read = (file: string) => readFileSync(join(dir, file), 'utf8');
    return {
      ca: read('ca.crt'),
      server: { cert: read('server.crt'), key: read('server.key') },
      client: { cert: read('client.crt'), key: read('client.key') },
      clients: Object.fromEntries(names.map((name) => [name, { cert: read(`node-${name}.crt`), key: read(`node-${name}.key`) }])),
      rogue: { ca: read('rogue-ca.crt'), cert: read('rogue.crt'), key: read('rogue.key') },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Certificates for a set of nodes that are both TLS servers and clients (mutual TLS between peers). */
export interface NodeCertificates {
  /** PEM of the CA that signed every node certificate. */
  readonly ca: string;
  /** Per node id: a certificate whose common name and DNS name are the id (plus IP 127.0.0.1), and its key. */
  readonly nodes: Readonly<Record<string, { readonly cert: string; readonly key: string }>>;
  /** A certificate named `ids[0]` signed by an unrelated CA: what the peers must refuse. */
  readonly rogue: { readonly cert: string; readonly key: string };
}

/** Generates a CA and one certificate per node id (and a rogue one) in a temporary directory. Needs `openssl`. */
export function generateNodeCertificates(ids: readonly string[]): NodeCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'ecps-pki-'));
  try {
    makeCa(dir, 'ca');
    makeCa(dir, 'rogue-ca');
    const ext = (id: string) => `subjectAltName=DNS:${id},IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n`;
    for (const id of ids) makeLeaf(dir, 'ca', id, ext(id));
    makeLeaf(dir, 'rogue-ca', 'rogue', ext(ids[0] ?? 'rogue'));
    const read = (file: string) => readFileSync(join(dir, file), 'utf8');
    return {
      ca: read('ca.crt'),
      nodes: Object.fromEntries(ids.map((id) => [id, { cert: read(`${id}.crt`), key: read(`${id}.key`) }])),
      rogue: { cert: read('rogue.crt'), key: read('rogue.key') },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
