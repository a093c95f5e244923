import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// Package indexes that load what an idle server does not need (docs/runtime.md, "Memory and
// start of the server process"): class-validator's loads every validator with
// libphonenumber-js, @nestjs/swagger's the document builder and the mapped types (which load
// class-validator's index).
const classValidatorIndex = {
  name: 'class-validator',
  message: 'Import from src/common/class-validator.ts (its own files, not the index).',
};
const swaggerIndex = {
  name: '@nestjs/swagger',
  allowTypeImports: true,
  message:
    'Decorators from src/http/openapi-decorators.ts; the document is built in src/http/openapi.ts, loaded only when SWAGGER_ENABLED. Mapped types (PartialType...) load class-validator: write the DTO out.',
};
const heavyIndexes = [classValidatorIndex, swaggerIndex];

export default tseslint.config(
  {
    ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**', 'drizzle/**', 'examples/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-restricted-imports': ['error', { paths: heavyIndexes }],
    },
  },
  {
    files: ['**/*.spec.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  // The one file that builds the OpenAPI document (src/http-app.ts imports it when enabled).
  {
    files: ['src/http/openapi.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { paths: [classValidatorIndex] }],
    },
  },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: globals.node },
  },
  // The console's scripts run in the browser (public/, served as they are).
  { files: ['public/**/*.js'], languageOptions: { globals: globals.browser } },
);
