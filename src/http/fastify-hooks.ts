import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { chatTimingOf, serverTimingHeader } from '../chat/server-timing';
import type { MetricsService } from '../metrics/metrics.service';
import { DOCS_CSP, securityHeaders } from './security-headers';

const FORM_TYPE = 'application/x-www-form-urlencoded';

/** Route config flags the hooks read (`@RouteConfig(...)`: FORM_BODY_ROUTE, SERVER_TIMING_ROUTE). */
interface HookRouteConfig {
  readonly acceptsForm?: boolean;
  readonly serverTiming?: boolean;
}

/**
 * onRequest: the security headers on every answer (helmet's and the API CSP, computed once:
 * http/security-headers.ts), and JSON only, except routes flagged FORM_BODY_ROUTE (Nest's
 * adapter parses forms); text/plain, multipart and any other type → 415. One synchronous
 * hook per request.
 */
export function addRequestGate(fastify: FastifyInstance, secureCookies: boolean): void {
  fastify.removeContentTypeParser('text/plain');
  const headers = securityHeaders(secureCookies);
  fastify.addHook(
    'onRequest',
    (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
      void reply.headers(headers);
      const type = request.headers['content-type'];
      const routeConfig = request.routeOptions.config as HookRouteConfig | undefined;
      if (type && type.toLowerCase().startsWith(FORM_TYPE) && !routeConfig?.acceptsForm) {
        done(
          Object.assign(new Error('form body on a JSON route'), {
            code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE',
            statusCode: 415,
          }),
        );
        return;
      }
      // The chat routes' timing starts with the request (request log: Keyward time, TTFT).
      if (routeConfig?.serverTiming) chatTimingOf(request);
      done();
    },
  );
}

/** onResponse: request count and duration per route for `/metrics`. */
export function addMetricsHook(fastify: FastifyInstance, metrics: MetricsService): void {
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
}

/**
 * onSend: the request id, `Cache-Control: no-store` unless a route chose otherwise,
 * Server-Timing on chat routes (after serialisation), Swagger UI's own CSP on `/docs`.
 */
export function addResponseHeadersHook(fastify: FastifyInstance): void {
  fastify.addHook(
    'onSend',
    (request: FastifyRequest, reply: FastifyReply, _payload: unknown, done: () => void) => {
      reply.header('X-Request-Id', String(request.id));
      if (!reply.hasHeader('Cache-Control')) reply.header('Cache-Control', 'no-store');
      const routeConfig = request.routeOptions.config as HookRouteConfig | undefined;
      if (routeConfig?.serverTiming) {
        reply.header('Server-Timing', serverTimingHeader(request, reply));
      }
      if (request.url.startsWith('/docs')) reply.header('Content-Security-Policy', DOCS_CSP);
      done();
    },
  );
}
