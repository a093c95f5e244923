// NestJS 12, jose 6 and cookie 2 ship ESM only, and Jest's module runtime cannot `require()`
// ESM (Node 24 can, Jest's own loader cannot). swc turns those packages into CommonJS. It also
// turns PGlite's dynamic `import()` calls into `require()`: inside
// Jest's VM a real dynamic import needs `--experimental-vm-modules`, which the suites do not use.
const esmPackages = [
  '@electric-sql/pglite',
  '@nestjs',
  'jose',
  'cookie',
  'file-type',
  'load-esm',
  'strtok3',
  'token-types',
  '@tokenizer',
  'uint8array-extras',
  'peek-readable',
  'content-disposition',
  // The Vercel AI SDK (real-client suite).
  'ai',
  '@ai-sdk',
  '@workflow',
  'zod',
  // Single sign-on (openid-client and its OAuth core).
  'openid-client',
  'oauth4webapi',
];
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
      keepClassNames: true,
    },
    module: { type: 'commonjs' },
  },
];
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j|mj|cj)s$': swc },
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
};
module.exports = {
  // Per test and per hook; e2e suites start real apps on a loaded 2-core machine.
  testTimeout: 30000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts'] },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
    },
    // Suites that need a real PostgreSQL and Redis (several processes sharing them, outages):
    // only `npm run test:services` selects this project, so `npm test` never skips them.
    ...(process.env.DATABASE_URL && process.env.REDIS_URL
      ? [
          {
            ...common,
            displayName: 'services',
            testMatch: ['<rootDir>/test/**/*.services-spec.ts'],
            globalSetup: '<rootDir>/test/support/global-setup.ts',
          },
        ]
      : []),
  ],
};
