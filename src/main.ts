import 'reflect-metadata';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { collectStartUpGarbage } from './common/start-up-garbage';
import { ConfigError } from './config/config-error';
import type { LoadedConfig } from './config/configuration';
import { loadConfigFromProviders } from './config/load-config-from-providers';
import { startEmbeddedDatabaseEarly } from './database/embedded-open';

/** After `listen`: the collection's pause falls outside start-to-ready. */
const START_UP_GC_DELAY_MS = 1000;

async function bootstrap(): Promise<void> {
  let config: LoadedConfig;
  try {
    config = await loadConfigFromProviders();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  // The embedded database opens on its worker thread while this thread loads the application's
  // modules (imported here, not at the top, for that reason; docs/database.md "Memory and
  // start time").
  if (!config.database.url) startEmbeddedDatabaseEarly(config.database.dataDir);
  const [{ NestFactory }, { AppModule }, { configureApp, createAdapter }, logging] =
    await Promise.all([
      import('@nestjs/core'),
      import('./app.module'),
      import('./http-app'),
      import('./logging/logger'),
    ]);
  const { createLogger, PinoNestLogger, stdoutDestination } = logging;
  const logger = createLogger(config.app.logLevel, stdoutDestination());
  for (const path of config.generatedSecrets) {
    logger.warn({ path }, 'generated a development secret (not for production)');
  }
  for (const warning of config.warnings) logger.warn(warning);
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config),
    createAdapter(config, logger),
    { logger: new PinoNestLogger(logger), bufferLogs: false },
  );
  await configureApp(app, config);
  await app.listen({ host: config.app.host, port: config.app.port });
  logger.info(`Keyward listening on http://${config.app.host}:${config.app.port}`);
  // The young generation and garbage start-up left, given back a second after the server is
  // ready, so start-to-ready does not include the collection's pause (~0.2 s on a loaded
  // 2-core machine; src/common/start-up-garbage.ts).
  setTimeout(() => {
    const pauseMs = collectStartUpGarbage();
    logger.info({ pauseMs: Math.round(pauseMs) }, 'start-up garbage collected');
  }, START_UP_GC_DELAY_MS).unref();

  // SIGTERM/SIGINT: stop accepting (new requests on open connections get 503), let in-flight
  // requests and streams finish, close the database and Redis, exit 0. Past the deadline,
  // exit 1 so the orchestrator knows work was cut short.
  let closing = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down: draining in-flight requests');
    const deadline = setTimeout(() => {
      logger.error('shutdown deadline reached with requests still open; exiting');
      process.exit(1);
    }, config.app.shutdownTimeoutMs);
    deadline.unref();
    // Node closes the connections idle at close() time only; a keep-alive connection whose
    // response (a stream) ends later would hold shutdown until its keep-alive timeout.
    const server = app.getHttpServer();
    const sweeper = setInterval(() => server.closeIdleConnections(), 200);
    sweeper.unref();
    app.close().then(
      () => {
        logger.info('shutdown complete');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

bootstrap().catch((error: unknown) => {
  process.stderr.write(`Keyward failed to start: ${(error as Error).message}\n`);
  process.exit(1);
});
