// SPDX-License-Identifier: Apache-2.0
// Child process for the cross-process tests: hosts DDS transports that the test process drives through proxies.
import { hostTransports } from '@ecps/testkit/transport-host';
import { ddsTransport, type DdsTransportOptions } from '../../src/index';

hostTransports((options) => ddsTransport(options as unknown as DdsTransportOptions));
