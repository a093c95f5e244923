import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { catchError, type Observable, throwError } from 'rxjs';
import { ChatTiming } from './server-timing';

/**
 * SPEC "Chat": every chat response carries `Server-Timing`. Handlers set it with the
 * upstream time; this covers refusals that never reach the handler's own timing (the
 * validation pipe runs inside `next.handle()`), reporting Keyward's time alone.
 */
@Injectable()
export class ServerTimingInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    return next.handle().pipe(
      catchError((error: unknown) => {
        if (!reply.sent && !reply.hasHeader('Server-Timing')) {
          reply.header('Server-Timing', new ChatTiming().header(reply.elapsedTime));
        }
        return throwError(() => error);
      }),
    );
  }
}
