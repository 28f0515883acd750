// Lint for the TypeScript sources (npm run lint; CI runs it). typescript-eslint's
// recommended set, without type information so it stays fast on every run.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '**/fixtures/**', '**/fixture/**', '*.vsix'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: {
        process: 'readonly',
        console: 'readonly',
        __dirname: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // `a && b()` and `c ? d() : e()` as statements are an accepted idiom here.
      '@typescript-eslint/no-unused-expressions': ['error', { allowShortCircuit: true, allowTernary: true }],
      // Input checks reject control characters on purpose (names, paths, ssh arguments).
      'no-control-regex': 'off',
      // `catch {}` marks a best-effort step (cleanup, optional reads).
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    // Tests, test support and benchmarks poke at wire objects and untyped bindings.
    files: ['**/*.test.ts', 'testing/**', 'scripts/**', 'tools/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
