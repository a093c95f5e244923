import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorFormatFor } from './error-formats';
import { toProblem } from './problem';

/**
 * Writes any error as a response in the request's wire format. Used by the global
 * exception filter, by Fastify's error handler (errors raised before Nest sees the
 * request: body parsing, size limits) and by the chat completions route outside Nest's
 * router (`src/chat/chat-completions.route.ts`), so every path answers alike.
 */
@Injectable()
export class ErrorResponder {
  send(request: FastifyRequest, reply: FastifyReply, error: unknown): void {
    const problem = toProblem(error);
    if (problem.status === 503 && problem.cause) {
      request.log.warn(
        { err: { message: (problem.cause as Error).message } },
        'dependency unavailable',
      );
    } else if (problem.status >= 500) {
      request.log.error({ err: problem.cause ?? error }, 'request failed');
    } else {
      request.log.info({ status: problem.status, code: problem.code }, 'request refused');
    }
    if (reply.sent || reply.raw.headersSent) {
      // A stream already started: the only honest thing left is to end it.
      reply.raw.end();
      return;
    }
    const format = errorFormatFor(request);
    const headers: Record<string, string> = { ...problem.headers };
    if (problem.status === 401 && !headers['WWW-Authenticate']) {
      // RFC 6750 §3
      headers['WWW-Authenticate'] =
        problem.code === 'invalid_token'
          ? `Bearer realm="keyward", error="invalid_token"`
          : `Bearer realm="keyward"`;
    }
    void reply
      .code(problem.status)
      .headers(headers)
      .header('Cache-Control', 'no-store')
      .type(format.contentType)
      .send(format.body(problem, String(request.id)));
  }
}
