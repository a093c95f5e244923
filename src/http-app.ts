import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { KeywardConfig } from './config/configuration';
import { registerConsole } from './console/console-static';
import { MetricsService } from './metrics/metrics.service';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const FORM_TYPE = 'application/x-www-form-urlencoded';

/** Strict CSP for the API; Swagger UI (`/docs`) needs its own scripts, styles and images. */
const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const DOCS_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

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
  });
}

/**
 * Everything around the Nest pipeline that lives in Fastify: content types, security
 * headers, CORS, Swagger, metrics. (Signals are main.ts's: it drains and exits 0.) (Errors Fastify raises before routing, such as
 * body parsing and size limits, reach the global exception filter through Nest's adapter.) Called by main.ts
 * and by the e2e app factory, so tests run the production setup.
 */
export async function configureApp(
  app: NestFastifyApplication,
  config: KeywardConfig,
): Promise<void> {
  const fastify = app.getHttpAdapter().getInstance();

  // JSON only, except routes flagged FORM_BODY_ROUTE (Nest's adapter parses forms); text/plain,
  // multipart and any other type → 415.
  fastify.removeContentTypeParser('text/plain');
  fastify.addHook(
    'onRequest',
    (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void) => {
      const type = request.headers['content-type'];
      const routeConfig = request.routeOptions.config as { acceptsForm?: boolean } | undefined;
      if (type && type.toLowerCase().startsWith(FORM_TYPE) && !routeConfig?.acceptsForm) {
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
  fastify.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply) => {
    reply.header('X-Request-Id', String(request.id));
    if (!reply.hasHeader('Cache-Control')) reply.header('Cache-Control', 'no-store');
    if (request.url.startsWith('/docs')) reply.header('Content-Security-Policy', DOCS_CSP);
  });

  // Parses Cookie headers; CookieService alone decides what is set.
  await app.register(cookie, {});
  await app.register(helmet, {
    contentSecurityPolicy: false,
    hsts: config.cookies.secure ? { maxAge: 31536000, includeSubDomains: false } : false,
    crossOriginEmbedderPolicy: false,
  });
  fastify.addHook('onRequest', async (_request, reply) => {
    reply.header('Content-Security-Policy', API_CSP);
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

  if (config.app.swaggerEnabled) setupSwagger(app);
}

function setupSwagger(app: NestFastifyApplication): void {
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
          flows: { password: { tokenUrl: '/api/v1/auth/token', scopes: {} } },
          description: 'Resource-owner password grant against the token endpoint',
        },
        'oauth2',
      )
      .addBearerAuth(
        { type: 'http', scheme: 'bearer', bearerFormat: 'JWT or kw_ API key' },
        'bearer',
      )
      .addCookieAuth('__Host-kw_access', { type: 'apiKey', in: 'cookie' }, 'cookie')
      .addSecurityRequirements('oauth2')
      .addSecurityRequirements('bearer')
      .addSecurityRequirements('cookie')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    swaggerOptions: { persistAuthorization: false },
  });
}
