import { afterAll, beforeAll } from '@jest/globals';
import { describeTransportConformance } from '@ecps/testkit';
import { grpcBusServer, grpcTransport, type GrpcBusServer } from '../src/index';

let server: GrpcBusServer;
beforeAll(async () => {
  server = await grpcBusServer({ host: '127.0.0.1', port: 0 });
});
afterAll(() => server.close());

describeTransportConformance('grpc', async () => ({
  a: grpcTransport({ target: server.address, nodeId: 'a' }),
  b: grpcTransport({ target: server.address, nodeId: 'b' }),
  teardown: async () => undefined,
}));

describeTransportConformance('grpc with a topic prefix', async () => ({
  a: grpcTransport({ target: server.address, nodeId: 'a', topicPrefix: 'ecps/test/' }),
  b: grpcTransport({ target: server.address, nodeId: 'b', topicPrefix: 'ecps/test/' }),
  teardown: async () => undefined,
}), { orderingCount: 200 });
