import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { AppModule } from '../../src/app.module';
import type { LoadedConfig } from '../../src/config/configuration';
import { loadConfigFromProviders } from '../../src/config/load-config-from-providers';
import { configureApp, createAdapter } from '../../src/http-app';
import { createLogger, PinoNestLogger } from '../../src/logging/logger';
import { templateDir, templateReady } from './pglite-template';

export interface TestApp {
  readonly app: NestFastifyApplication;
  readonly config: LoadedConfig;
  /** Every log line the app wrote, as raw JSON strings. */
  readonly logs: string[];
  /** For supertest: `request(t.server)`. */
  readonly server: ReturnType<NestFastifyApplication['getHttpServer']>;
  /** Set after `listen()`: `http://127.0.0.1:PORT`. */
  url?: string;
  /** Listens on 127.0.0.1, on `port` (e.g. one named in PUBLIC_URL beforehand) or any free one. */
  listen(port?: number): Promise<string>;
  close(): Promise<void>;
}

let counter = 0;
/** A username no other suite or test uses, even on a shared PostgreSQL database. */
export function uniqueName(prefix = 'user'): string {
  counter += 1;
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter}`;
}

/**
 * Builds the application exactly as main.ts does (same module, adapter and configureApp),
 * on a fresh data directory. With DATABASE_URL / REDIS_URL in the environment
 * (`npm run test:services`) it runs on PostgreSQL and Redis instead of PGlite.
 */
export async function createTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyward-test-'));
  const processEnv: NodeJS.ProcessEnv = {
    NODE_ENV: 'test',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    ...(process.env.AUDIT_HMAC_KEY ? { AUDIT_HMAC_KEY: process.env.AUDIT_HMAC_KEY } : {}),
    ...(process.env.REDIS_URL
      ? {
          REDIS_URL: process.env.REDIS_URL,
          REDIS_KEY_PREFIX: process.env.REDIS_KEY_PREFIX ?? '',
          // On Redis every suite of the run shares the per-address counters, and all of them
          // call from 127.0.0.1: the public auth routes' limit would count the whole run's
          // refreshes and sign-outs together. Suites that test the limit set it themselves.
          AUTH_PUBLIC_RPM: '1000000',
        }
      : {}),
    ...env,
  };
  if (!processEnv.DATABASE_URL) {
    const template = templateDir();
    if (!templateReady(template))
      throw new Error('PGlite template missing: run through jest (globalSetup)');
    cpSync(join(template, 'pgdata'), join(dataDir, 'pgdata'), { recursive: true });
  }
  // cwd = the temp dir, so a developer's .env never leaks into a test.
  const config = await loadConfigFromProviders(processEnv, dataDir).catch((error: unknown) => {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger(config.app.logLevel, sink);
  for (const warning of config.warnings) logger.warn(warning);
  const moduleRef = await Test.createTestingModule({
    imports: [AppModule.forRoot(config)],
  }).compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(
    createAdapter(config, logger),
    {
      logger: new PinoNestLogger(logger),
    },
  );
  await configureApp(app, config);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  const testApp: TestApp = {
    app,
    config,
    logs,
    server: app.getHttpServer(),
    async listen(port = 0) {
      await app.listen({ host: '127.0.0.1', port });
      const address = app.getHttpServer().address();
      if (!address || typeof address === 'string') throw new Error('no address');
      testApp.url = `http://127.0.0.1:${address.port}`;
      return testApp.url;
    },
    async close() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return testApp;
}
