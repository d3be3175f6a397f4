import { createJestConfig } from '@ecps/jest-preset';

const base = createJestConfig(import.meta.dirname);

// @fastify/static (under @fastify/swagger-ui) require()s content-disposition, which ships only ESM: Node 20 loads
// it natively, Jest's CommonJS loader does not, so that one package is compiled to CommonJS for the tests.
export default {
  ...base,
  transform: {
    'content-disposition/.+\\.js$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
    ...base.transform,
  },
  transformIgnorePatterns: ['/node_modules/(?!(\\.pnpm/content-disposition@[^/]+/node_modules/)?content-disposition/)'],
};
