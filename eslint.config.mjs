// @ts-check
/**
 * ESLint with typescript-eslint's type-aware rules (`recommended-type-checked`): no-floating-promises,
 * no-misused-promises and their kin read the types, which is what catches an un-awaited SDK call in a Lambda handler.
 * `npm run lint`; `npm test` runs it right after `tsc --noEmit`.
 */
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', 'cdk.out.*/', '.local/', '.ministack-venv/', 'coverage/', 'bench/.out/', '**/*.js', '**/*.mjs'] },
  eslint.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    files: ['{bin,lib,lambda,scripts,bench,fixtures,test}/**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // As tsc's noUnusedLocals: a leading underscore marks a binding kept on purpose (a destructured field left out).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    // In-memory fakes of the async ports (lambda/app/ports.ts): they are async without awaiting anything so that a
    // throw becomes a rejection, as in the real adapters.
    files: ['bench/lib/memory-ports.ts', 'bench/lib/capacity-store.ts', 'test/support/memory-window-store.ts', 'test/support/memory-key-window-store.ts', 'test/support/harness.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  {
    // Infra tests walk synthesized CloudFormation, which aws-cdk-lib's Template API hands out as `any` JSON
    // (toJSON, findResources). The expectations themselves check every shape these walks rely on.
    files: ['test/infra/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
