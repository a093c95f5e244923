import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { type FastifyError, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { Logger } from 'pino';
import { TOKEN_PATH } from './auth/auth-paths';
import { OPENAPI_PUBLIC_EXTENSION } from './auth/public.decorator';
import { cookieName } from './cookies/cookie-policy';
import type { KeywardConfig } from './config/configuration';
import { serverTimingHeader } from './chat/server-timing';
import { DomainError } from './common/domain-error';
import { createAccessLogger } from './logging/logger';
import { ErrorResponder } from './common/error-responder';
import { registerConsole } from './console/console-static';
import { MetricsService } from './metrics/metrics.service';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const FORM_TYPE = 'application/x-www-form-urlencoded';

/** Strict CSP for the API; Swagger UI (`/docs`) needs its own scripts, styles and images. */
const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const DOCS_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/**
 * One access line per request instead of Fastify's two: "incoming request" is dropped and
 * "request completed" carries method, redacted URL, client address, status, response
 * time and request id (Fastify's own completion line has no method or URL). It is written
 * through the access logger (no redaction needed: see `createAccessLogger`); error lines
 * stay Fastify's, through the redacting logger. A request that never completes still
 * leaves its error or abort line.
 */
class AccessLogController extends LogController {
  constructor(private readonly access: Logger) {
    super();
  }

  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
    metadata?: Record<string, unknown>,
  ): void {
    if (error) {
      super.requestCompleted(error, request, reply, metadata);
      return;
    }
    if (this.isLogDisabled(request)) return;
    this.access.info(
      { reqId: request.id, req: request, res: reply, responseTime: reply.elapsedTime },
      'request completed',
    );
  }
}

/** The Fastify adapter for main.ts and the e2e factory alike. */
export function createAdapter(config: KeywardConfig, logger: Logger): FastifyAdapter {
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
    logController: new AccessLogController(createAccessLogger(logger)),
    // The router refuses a malformed percent-escape (400) or a path parameter over 100
    // characters (414) before any hook or Nest filter runs; left alone, Fastify answers in
    // its own format, echoing the path, without our headers (found by test/fuzz.e2e-spec.ts).
    frameworkErrors: (_error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      void reply.headers({
        'X-Request-Id': String(request.id),
        'X-Content-Type-Options': 'nosniff',
        'Content-Security-Policy': API_CSP,
      });
      new ErrorResponder().send(
        request,
        reply,
        new DomainError('validation_failed', 'The URL has a malformed or over-long path segment.'),
      );
    },
  });
}

/**
 * Everything around the Nest pipeline that lives in Fastify: content types, security
 * headers, Server-Timing, CORS, the browser console, Swagger, metrics. Called by main.ts
 * and by the e2e app factory, so tests run the production setup. (Signals are main.ts's:
 * it drains and exits 0. Errors Fastify raises while parsing a body reach the global
 * exception filter through Nest's adapter; router errors go through `frameworkErrors` in
 * createAdapter.)
 */
export async function configureApp(
  app: NestFastifyApplication,
  config: KeywardConfig,
): Promise<void> {
  const fastify = app.getHttpAdapter().getInstance();

  // JSON only, except routes flagged FORM_BODY_ROUTE (Nest's adapter parses forms); text/plain,
  // multipart and any other type → 415. The API CSP is set in the same hook: one
  // synchronous hook per request instead of two (one of them async).
  fastify.removeContentTypeParser('text/plain');
  fastify.addHook(
    'onRequest',
    (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
      reply.header('Content-Security-Policy', API_CSP);
      const type = request.headers['content-type'];
      const routeConfig = request.routeOptions.config as { acceptsForm?: boolean } | undefined;
      if (type && type.toLowerCase().startsWith(FORM_TYPE) && !routeConfig?.acceptsForm) {
        // Refused before helmet's own onRequest hook runs: set what it would have.
        reply.header('X-Content-Type-Options', 'nosniff');
        if (config.cookies.secure) reply.header('Strict-Transport-Security', 'max-age=31536000');
        done(
          Object.assign(new Error('form body on a JSON route'), {
            code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE',
            statusCode: 415,
          }),
        );
        return;
      }
      done();
    },
  );
  const metrics = app.get(MetricsService);
  fastify.addHook(
    'onResponse',
    (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      metrics.observe(
        request.method,
        request.routeOptions.url,
        reply.statusCode,
        reply.elapsedTime / 1000,
      );
      done();
    },
  );
  fastify.addHook(
    'onSend',
    (request: FastifyRequest, reply: FastifyReply, _payload: unknown, done: () => void) => {
      reply.header('X-Request-Id', String(request.id));
      if (!reply.hasHeader('Cache-Control')) reply.header('Cache-Control', 'no-store');
      const routeConfig = request.routeOptions.config as { serverTiming?: boolean } | undefined;
      if (routeConfig?.serverTiming) {
        reply.header('Server-Timing', serverTimingHeader(request, reply));
      }
      if (request.url.startsWith('/docs')) reply.header('Content-Security-Policy', DOCS_CSP);
      done();
    },
  );

  // Parses Cookie headers; CookieService alone decides what is set.
  await app.register(cookie, {});
  await app.register(helmet, {
    contentSecurityPolicy: false,
    hsts: config.cookies.secure ? { maxAge: 31536000, includeSubDomains: false } : false,
    crossOriginEmbedderPolicy: false,
  });

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

  if (config.app.swaggerEnabled) setupSwagger(app, config.cookies.secure);
}

function setupSwagger(app: NestFastifyApplication, secureCookies: boolean): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Keyward')
      .setDescription(
        'OpenAI behind your own authentication. Authenticate with a Bearer JWT (from the token ' +
          'endpoint), a `kw_` API key, or the browser session cookie.',
      )
      .setVersion('1')
      .addOAuth2(
        {
          type: 'oauth2',
          flows: { password: { tokenUrl: TOKEN_PATH, scopes: {} } },
          description: 'Resource-owner password grant against the token endpoint',
        },
        'oauth2',
      )
      .addBearerAuth(
        { type: 'http', scheme: 'bearer', bearerFormat: 'JWT or kw_ API key' },
        'bearer',
      )
      .addCookieAuth(
        cookieName('access', secureCookies),
        { type: 'apiKey', in: 'cookie' },
        'cookie',
      )
      .addSecurityRequirements('oauth2')
      .addSecurityRequirements('bearer')
      .addSecurityRequirements('cookie')
      .build(),
  );
  // Every operation inherits the document-wide security requirements, except the public
  // ones (`@Public()`), which need none of them: `security: []` overrides the default.
  // A public route that names its own credential (the session routes' refresh cookie,
  // `@ApiCookieAuth`) keeps it.
  for (const operations of Object.values(document.paths)) {
    for (const operation of Object.values(operations) as Array<Record<string, unknown>>) {
      if (typeof operation !== 'object' || !(OPENAPI_PUBLIC_EXTENSION in operation)) continue;
      delete operation[OPENAPI_PUBLIC_EXTENSION];
      operation.security ??= [];
    }
  }
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    swaggerOptions: { persistAuthorization: false },
  });
}
