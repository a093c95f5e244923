import { type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { Logger } from 'pino';

/**
 * One access line per request instead of Fastify's two: "incoming request" is dropped and
 * "request completed" carries method, redacted URL, client address, status, response
 * time and request id (Fastify's own completion line has no method or URL). It is written
 * through the access logger (no redaction needed: see `createAccessLogger`); error lines
 * stay Fastify's, through the redacting logger. A request that never completes still
 * leaves its error or abort line.
 */
export class AccessLogController extends LogController {
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
