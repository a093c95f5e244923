import type { FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal';
import type { ChatCallContext } from './chat.service';
import { chatTimingOf } from './server-timing';

/**
 * The call context of one upstream-bound request (`/api/v1/chat` and the `/v1` routes).
 * The controller makes `signal` itself (`abortOnDisconnect(reply.raw)`), before anything
 * is awaited, since a streamed answer hands the same signal to its response sink.
 */
export function chatCallContext(
  principal: Principal,
  request: FastifyRequest,
  signal: AbortSignal,
): ChatCallContext {
  return {
    principal,
    ip: request.ip,
    signal,
    timing: chatTimingOf(request),
    requestId: String(request.id),
    route: request.routeOptions.url,
    log: request.log,
  };
}
