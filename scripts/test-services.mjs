#!/usr/bin/env node
// `npm run test:services`: the e2e suites again on a real PostgreSQL and Redis, plus the
// suites only these make possible (test/*.services-spec.ts: several processes, outages).
// A fresh database (dropped afterwards) and a fresh Redis key prefix per run.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const adminUrl =
  process.env.TEST_POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const id = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
const database = `keyward_test_${id}`;

async function admin(sql) {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

try {
  await admin(`CREATE DATABASE ${database}`);
} catch (error) {
  console.error(`test:services needs PostgreSQL at ${adminUrl}: ${error.message}`);
  process.exit(1);
}

const url = new URL(adminUrl);
url.pathname = `/${database}`;
const env = {
  ...process.env,
  DATABASE_URL: url.toString(),
  REDIS_URL: redisUrl,
  REDIS_KEY_PREFIX: `keyward-test-${id}:`,
  // Every app of the run writes one shared audit chain: they share its key, as instances must.
  AUDIT_HMAC_KEY: randomBytes(32).toString('base64url'),
};
console.log(
  `test:services on ${url.host}/${database}, Redis ${redisUrl} (prefix keyward-test-${id}:)`,
);
const result = spawnSync(
  process.execPath,
  // Test path patterns first: --selectProjects takes a list and would swallow them.
  [
    'node_modules/jest/bin/jest.js',
    ...process.argv.slice(2),
    '--selectProjects',
    'e2e',
    'services',
  ],
  { stdio: 'inherit', env },
);
try {
  await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
} catch (error) {
  console.warn(`could not drop ${database}: ${error.message}`);
}
process.exit(result.status ?? 1);
