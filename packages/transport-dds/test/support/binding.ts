// SPDX-License-Identifier: Apache-2.0
// Child processes run bundled copies of the sources, which cannot find the native binding next to themselves:
// they are told where it is.
import { fileURLToPath } from 'node:url';

export const BINDING_ENV = { ECPS_DDS_BINDING: fileURLToPath(new URL('../../build/Release/ecps_dds.node', import.meta.url)) };
