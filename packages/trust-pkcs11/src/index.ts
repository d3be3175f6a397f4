// SPDX-License-Identifier: Apache-2.0
// @ecps/trust-pkcs11: a KeyProvider over any PKCS#11 module (HSMs, smart cards, SoftHSM2).

export { Pkcs11KeyProvider } from './pkcs11-key-provider';
export { pkcs11Error } from './errors';

export type { Pkcs11Options, Pkcs11KeyUsage } from './pkcs11-key-provider';
