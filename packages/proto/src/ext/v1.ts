// SPDX-License-Identifier: Apache-2.0
// Our extensions (package `ecps.ext.v1`): MEP replication, sealed envelopes, the LTP codec enum, and the
// services and messages later packages add under proto/ecps/ext/v1.

export * from '../gen/index.ecps.ext.v1';
