// ESLint for the TypeScript and JavaScript in src/, test/, stand-ins/ and tools/ (`npm run lint`, which `npm test` runs
// after the build).
//
// TypeScript 7 and typescript-eslint: TypeScript 7 (the native compiler) has no JavaScript compiler API yet,
// and typescript-eslint's type-aware rules need one (typescript-eslint/typescript-eslint#10940; its peer range
// is typescript ">=4.8.4 <6.1.0"). package.json therefore installs the two side by side, as the TypeScript 7.0
// announcement describes ("Running side-by-side with TypeScript 6.0",
// https://devblogs.microsoft.com/typescript/announcing-typescript-7-0/#running-side-by-side-with-typescript-6.0):
//   "@typescript/native": "npm:typescript@^7"           -> the `tsc` that `npm run build` runs (TypeScript 7)
//   "typescript": "npm:@typescript/typescript6@^6"      -> what `require('typescript')` gives typescript-eslint
//                                                          (TypeScript 6's API; its command is `tsc6`)
// The lint type-checks with TypeScript 6, the build with 7; both read the same tsconfig.json. Once a
// typescript-eslint release supports TypeScript 7's API, "typescript" goes back to "^7" and the alias goes.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'infra/'] },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      // The project service finds tsconfig.json for each file, as an editor would (typescript-eslint docs,
      // "Linting with Type Information", https://typescript-eslint.io/getting-started/typed-linting).
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Explicit types where one module meets another; inside a module, inference is fine.
      '@typescript-eslint/explicit-module-boundary-types': 'error',
      // Already in recommendedTypeChecked; stated so that they stay on whatever the preset does.
      // node:test's test() returns a promise the runner itself awaits: a file's top-level test() calls are
      // not floating (typescript-eslint docs, no-floating-promises, "allowForKnownSafeCalls",
      // https://typescript-eslint.io/rules/no-floating-promises/#allowforknownsafecalls). A subtest's
      // t.test() is not listed: it is awaited.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      // `async` without `await` is how this code implements a promise-returning interface (a TokenCredential's
      // getToken, a sim-tenant Handler): a throw in it becomes a rejection the caller handles, not a crash.
      '@typescript-eslint/require-await': 'off',
      // A `let` assigned once after a closure that reads it was declared (a kill switch set when the process
      // starts) cannot be a const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // `_name` marks a parameter or binding kept for its position or shape.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // Tests read the bodies of the simulated services' answers (JSON.parse: any) and check each field they
    // read with node:assert at run time; typing every probed body would only restate those assertions.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // The few build and maintenance scripts written as plain ES modules (no types to check against).
    files: ['**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node },
  },
);
