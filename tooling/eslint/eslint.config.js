// Shared ESLint flat config: every package lints with `eslint --config ../../tooling/eslint/eslint.config.js`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/src/gen/**', '**/coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'error',
    },
  },
  {
    files: ['**/*.test.ts', '**/test/**', '**/bin/**', '**/cli/**', 'apps/**', '**/bench/**'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    // Browser pages (e.g. @ecps/codex-api's dashboard): DOM built with createElement/textContent only, never from HTML.
    files: ['**/dashboard/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { window: 'readonly', document: 'readonly', location: 'readonly', fetch: 'readonly', WebSocket: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly' },
    },
    rules: {
      'no-restricted-properties': [
        'error',
        ...['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'write', 'writeln', 'createContextualFragment', 'setHTMLUnsafe'].map((property) => ({ property, message: 'build nodes with createElement/textContent' })),
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "AssignmentExpression > MemberExpression.left[property.name=/^(innerHTML|outerHTML|on[a-z]+)$/]", message: 'no HTML strings or inline handlers: use textContent and addEventListener' },
        { selector: "CallExpression[callee.property.name='setAttribute'][arguments.0.value=/^(on|style$|href$|src$)/]", message: 'no inline handlers, styles or URLs set from data' },
      ],
      'no-implied-eval': 'error',
      'no-new-func': 'error',
    },
  },
);
