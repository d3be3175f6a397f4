// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the reference SDK's SecureMessage JSON as a reader receives it (any bytes), signed and encrypted
// forms, through readLegacySecureMessage. The RSA keys are made per run (Node cannot derive RSA keys from a
// seed), so seeds differ between runs; failures are reported with their input and kept in the corpus.
import { describe, expect, it } from '@jest/globals';
import { constants, createCipheriv, generateKeyPairSync, publicEncrypt, sign } from 'node:crypto';
import { loadCorpus, runFuzzTarget, type FuzzTarget } from '@ecps/testkit/fuzz';
import { readLegacySecureMessage } from '../src/legacy-secure-message';
import { corpusDir, expectClean, expectGenuine, fuzzTimeout, isTypedRefusal } from './fuzz-fixtures';

function target(): FuzzTarget {
  const sender = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const receiver = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const payload = Buffer.from('EAP set_pose 0.1 0.2 0.3');
  const pss = (data: Buffer) => sign('sha256', data, { key: sender.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_MAX_SIGN });
  const oaep = (data: Buffer) => publicEncrypt({ key: receiver.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, data);
  const key = Buffer.alloc(32, 1);
  const iv = Buffer.alloc(16, 2);
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const body = Buffer.concat([cipher.update(payload), cipher.final()]);
  const len = Buffer.alloc(4);
  const encKey = oaep(key);
  len.writeUInt32BE(encKey.length);
  const blob = Buffer.concat([len, encKey, iv, body]);
  const messages = [
    { message: payload.toString('base64'), message_type: 'EAP', timestamp: 1750000000123456789n.toString(), signature: pss(payload).toString('base64'), sender_id: 'ref-1' },
    { message: body.toString('base64'), message_type: 'EAP', timestamp: 5, encrypted_key: encKey.toString('base64'), iv: iv.toString('base64'), signature: pss(body).toString('base64') },
    { message: blob.toString('base64'), message_type: 'MCP', timestamp: 7, signature: pss(blob).toString('base64'), security_token: 't' },
  ];
  const name = 'trust-legacy-secure-message';
  return {
    name,
    seeds: [...messages.map((m) => new TextEncoder().encode(JSON.stringify(m))), ...loadCorpus(corpusDir(name))],
    isExpected: isTypedRefusal,
    run(input) {
      const text = Buffer.from(input).toString('utf8');
      const out = readLegacySecureMessage(text, { verifyKey: sender.publicKey, decryptKey: receiver.privateKey });
      expectGenuine(out.signed, 'accepted an unsigned message although a verify key was given');
      expectGenuine(Buffer.from(out.payload).equals(payload), 'accepted a payload the sender never signed');
    },
  };
}

describe('fuzz: legacy SecureMessage', () => {
  it('only typed refusals, and nothing accepted that the sender did not sign', async () => {
    expectClean(await runFuzzTarget(target()));
  }, fuzzTimeout());
});
