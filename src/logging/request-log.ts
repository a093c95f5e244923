import type { FastifyBaseLogger } from 'fastify';

/**
 * A request's own logger (`request.log`: Fastify binds `reqId` to it), handed to services
 * that write per-request lines, so those lines carry the request id as a field like the
 * access line does, and the message stays a fixed text to search for.
 */
export type RequestLog = Pick<FastifyBaseLogger, 'warn' | 'error'>;
