// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'charts/**', 'crds/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error', { allow: ['error'] }],
      eqeqeq: ['error', 'smart'],
    },
  },
  // The floor of shared contracts (operator/api/) and process-neutral helpers (operator/lib/): both processes import
  // it, and it imports nothing else of the product. The node agent reaches the operator only through it, and the
  // operator never imports the node agent.
  {
    files: ['node-agent/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+operator/(?!(api|lib)/)',
              message: 'the node agent imports only the shared floor of the operator: operator/api/ (contracts) and operator/lib/ (helpers); move what both processes need there',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['operator/api/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^\\.\\./(?!lib/)', message: 'operator/api/ holds contracts both processes import: it may import only itself and operator/lib/' }] },
      ],
    },
  },
  {
    files: ['operator/lib/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^\\.\\./', message: 'operator/lib/ holds helpers both processes import: it may import only itself' }] }],
    },
  },
  {
    files: ['operator/**/*.ts'],
    ignores: ['operator/api/**', 'operator/lib/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^(\\.\\./)+node-agent/', message: 'the operator does not import the node agent: share code through operator/api/ or operator/lib/' }] }],
    },
  },
  {
    // The demo, benchmarks and scripts talk to a person on the terminal.
    files: ['test/demo/**', 'test/bench/**', 'operator/api/generate.ts', 'test/tools/**'],
    rules: { 'no-console': 'off' },
  },
);
