// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import architecture from './lint/architecture.js';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'scratch-tmp/**', '.node22/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { architecture },
    rules: { 'architecture/imports': 'error' },
  },
);
