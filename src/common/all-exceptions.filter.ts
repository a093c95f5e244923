import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorResponder } from './error-responder';

/** The one exception filter: every error leaves through `ErrorResponder`. */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  constructor(private readonly responder: ErrorResponder) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    this.responder.send(
      http.getRequest<FastifyRequest>(),
      http.getResponse<FastifyReply>(),
      exception,
    );
  }
}
