import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Bindings, ChildLoggerOptions, Logger } from 'pino';
import { registerChatCompletionsRoute } from './chat/chat-completions.route';
import type { KeywardConfig } from './config/configuration';
import { DomainError } from './common/domain-error';
import { ErrorResponder } from './common/error-responder';
import { registerConsole } from './console/console-static';
import { AccessLogController } from './http/access-log.controller';
import { addMetricsHook, addRequestGate } from './http/fastify-hooks';
import { securityHeaders } from './http/security-headers';
import { createAccessLogger, requestLogger } from './logging/logger';
import { MetricsService } from './metrics/metrics.service';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The Fastify adapter for main.ts and the e2e factory alike. */
export function createAdapter(config: KeywardConfig, logger: Logger): FastifyAdapter {
  const refused = securityHeaders(config.cookies.secure);
  return new FastifyAdapter({
    loggerInstance: logger,
    bodyLimit: config.app.bodyLimit,
    trustProxy: config.app.trustProxy,
    requestIdHeader: false,
    genReqId: (request: IncomingMessage) => {
      const header = request.headers['x-request-id'];
      return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
    },
    // Fastify rejects `__proto__` and `constructor.prototype` while parsing JSON.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Keyward has no Nest middleware (no MiddlewareConsumer, no `app.use`): everything around
    // the Nest pipeline is a Fastify hook (http/fastify-hooks.ts). Without this, Nest registers
    // @fastify/middie, whose `onRequest` hook runs on every request with nothing to run. Should
    // a middleware ever be added, start-up fails (`use` is missing) rather than skipping it.
    skipMiddie: true,
    logController: new AccessLogController(createAccessLogger(logger)),
    // `request.log`: the logger above (pino) with the request id bound, written cheaply.
    childLoggerFactory: (
      parent: FastifyBaseLogger,
      bindings: Bindings,
      options: ChildLoggerOptions,
    ) => requestLogger(parent as Logger, bindings, options),
    // The router refuses a malformed percent-escape (400) or a path parameter over 100
    // characters (414) before any hook or Nest filter runs; left alone, Fastify answers in
    // its own format, echoing the path, without our headers (found by test/fuzz.e2e-spec.ts).
    frameworkErrors: (_error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      void reply.headers({ 'X-Request-Id': String(request.id), ...refused });
      new ErrorResponder().send(
        request,
        reply,
        new DomainError('validation_failed', 'The URL has a malformed or over-long path segment.'),
      );
    },
  });
}

/**
 * Everything around the Nest pipeline that lives in Fastify: content types and hooks
 * (http/fastify-hooks.ts) with the security headers (http/security-headers.ts), cookies, CORS, the
 * browser console, `POST /v1/chat/completions` (a route outside Nest's router:
 * chat/chat-completions.route.ts), Swagger (http/openapi.ts). Called by main.ts and by the e2e
 * app factory, so tests run the production setup. (Signals are main.ts's: it drains and exits 0. Errors
 * Fastify raises while parsing a body reach the global exception filter through Nest's
 * adapter; router errors go through `frameworkErrors` in createAdapter.)
 */
export async function configureApp(
  app: NestFastifyApplication,
  config: KeywardConfig,
): Promise<void> {
  const fastify = app.getHttpAdapter().getInstance();
  addRequestGate(fastify, config.cookies.secure);
  addMetricsHook(fastify, app.get(MetricsService));

  // Cookies: CookieService alone parses and sets them, when a route needs them (no plugin,
  // no per-request hook: docs/runtime.md "Request pipeline").

  // The browser console at `/` (static files with their own CSP; see docs/console.md).
  await registerConsole(app);

  if (config.app.corsOrigins.length > 0) {
    app.enableCors({
      origin: config.app.corsOrigins,
      credentials: true,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type', 'X-CSRF-Token', 'X-Request-Id'],
      exposedHeaders: ['Retry-After', 'Server-Timing', 'X-Request-Id'],
      maxAge: 600,
    });
  }

  // The one route outside Nest's router (docs/runtime.md "Request pipeline"): after the hooks
  // and CORS above, like Nest's own routes, which `app.init()` registers after this.
  registerChatCompletionsRoute(app);

  // @nestjs/swagger's document builder and UI load only here (src/http/openapi-decorators.ts).
  if (config.app.swaggerEnabled) {
    const { setupOpenApi } = await import('./http/openapi');
    setupOpenApi(app, config.cookies.secure, config.app);
  }
}
