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
 * onRequest, for every request: the security headers (helmet's and the API CSP, computed
 * once: http/security-headers.ts; Swagger UI's own CSP on `/docs`), the request id and
 * `Cache-Control: no-store` (a route that chooses otherwise replaces it), all set before
 * anything can refuse the request; then JSON only, except routes flagged FORM_BODY_ROUTE
 * (Nest's adapter parses forms): text/plain, multipart and any other type → 415. One
 * synchronous hook per request, reading the route's options only for a form body
 * (`request.routeOptions` builds a new object on each read).
 */
export function addRequestGate(fastify: FastifyInstance, secureCookies: boolean): void {
  fastify.removeContentTypeParser('text/plain');
  const headers = securityHeaders(secureCookies);
  const docsHeaders = Object.freeze({ ...headers, 'Content-Security-Policy': DOCS_CSP });
  fastify.addHook(
    'onRequest',
    (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
      void reply
        .headers(request.url.startsWith('/docs') ? docsHeaders : headers)
        .header('X-Request-Id', String(request.id))
        .header('Cache-Control', 'no-store');
      const type = request.headers['content-type'];
      if (
        type &&
        type.toLowerCase().startsWith(FORM_TYPE) &&
        !(request.routeOptions.config as HookRouteConfig | undefined)?.acceptsForm
      ) {
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
  addServerTimingHooks(fastify);
}

/**
 * Routes flagged SERVER_TIMING_ROUTE (the chat routes) get two hooks of their own: the
 * timing starts when the request arrives (request log: Keyward time, TTFT), and
 * `Server-Timing` is set on every answer after serialisation (onSend; a stream sets it
 * with its SSE headers). Other routes pay nothing for it.
 */
function addServerTimingHooks(fastify: FastifyInstance): void {
  const startTiming = (request: FastifyRequest, _reply: FastifyReply, done: () => void) => {
    chatTimingOf(request);
    done();
  };
  const sendTiming = (
    request: FastifyRequest,
    reply: FastifyReply,
    _payload: unknown,
    done: () => void,
  ) => {
    reply.header('Server-Timing', serverTimingHeader(request, reply));
    done();
  };
  fastify.addHook('onRoute', (route) => {
    const config: HookRouteConfig | undefined = route.config;
    if (!config?.serverTiming) return;
    route.onRequest = [...hookList(route.onRequest), startTiming];
    route.onSend = [...hookList(route.onSend), sendTiming];
  });
}

function hookList<T>(hooks: T | T[] | undefined): T[] {
  if (hooks === undefined) return [];
  return Array.isArray(hooks) ? hooks : [hooks];
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
