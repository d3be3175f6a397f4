import grpcCases from './cases/grpc.bench';
const c = grpcCases.find((x) => x.name.includes('MemoryStore.Put unary'))!;
await c.setup!();
for (let i = 0; i < 4; i++) console.log('ours', Math.round(await c.ours()), 'base', Math.round(await c.baseline()));
await c.teardown!();
