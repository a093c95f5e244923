import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { OperationObject } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RequestAuthorizer } from '../auth/request-authorizer';
import type { RoutePolicy } from '../auth/route-policy';
import type { ErrorFormatRouteConfig } from '../common/error-format.decorator';
import { ErrorResponder } from '../common/error-responder';
import { ZodBodyPipe } from '../common/zod-body.pipe';
import { chatCallContext } from './chat-call-context';
import { ChatService } from './chat.service';
import { chatCompletionRequestOpenApi } from './dto/chat-completion-request.openapi';
import { chatCompletionRequestSchema } from './dto/chat-completion-request.schema';
import { abortOnDisconnect, responseSink, startEventStream } from './event-stream.response';
import { SERVER_TIMING_ROUTE, serverTimingHeader } from './server-timing';

/**
 * `POST /v1/chat/completions`, registered on Fastify outside Nest's router (issue 17: Nest's
 * router, guard and pipes were ~5% of a chat call's CPU). What the Nest pipeline did is
 * done here with the same functions: the global guard's decision (RequestAuthorizer, with
 * the policy below in place of the decorators), the same zod schema (ZodBodyPipe), the same
 * ChatService calls, every error through ErrorResponder in OpenAI's format. The Fastify hooks
 * (security headers, request id, 415 gate, CORS, Server-Timing, metrics, access log) apply
 * as to any route. docs/runtime.md "Request pipeline".
 */
export const CHAT_COMPLETIONS_ROUTE = {
  method: 'POST',
  url: '/v1/chat/completions',
  /** What `@RequireScopes('chat')` on the `/v1` controller says for its routes. */
  policy: { isPublic: false, acceptsMetricsToken: false, scopes: ['chat'] } satisfies RoutePolicy,
} as const;

/**
 * The route's operation in `/docs-json` (added by `http/openapi.ts`), as Nest's Swagger
 * module described it when the route was a controller method (same operationId, so
 * generated clients keep their method name).
 */
export const CHAT_COMPLETIONS_OPENAPI: OperationObject = {
  operationId: 'ChatCompletionsController_create',
  summary:
    'OpenAI chat completion; `stream: true` relays server-sent events ending with `data: [DONE]`',
  description:
    'Image parts: at most CHAT_MAX_IMAGES per request, each reserving its worst case on the model; ' +
    '`image_url.url` must be a `data:image/...;base64,` URL or an `https:` URL to a public host (400 otherwise).',
  parameters: [],
  requestBody: {
    required: true,
    content: { 'application/json': { schema: chatCompletionRequestOpenApi } },
  },
  responses: {
    '200': { description: 'An OpenAI chat.completion object, or a text/event-stream of chunks' },
  },
  tags: ['openai-compatible'],
};

/** Registers the route; `configureApp` calls it, so main.ts and the e2e apps both have it. */
export function registerChatCompletionsRoute(app: NestFastifyApplication): void {
  const authorizer = app.get(RequestAuthorizer);
  const chat = app.get(ChatService);
  const errors = app.get(ErrorResponder);
  const body = new ZodBodyPipe(chatCompletionRequestSchema);
  const { method, url, policy } = CHAT_COMPLETIONS_ROUTE;

  const create = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    // Not public and no metrics token: a principal, or a refusal thrown.
    const principal = (await authorizer.authorize(request, reply, policy))!;
    const completion = body.transform(request.body);
    const signal = abortOnDisconnect(reply.raw);
    const context = chatCallContext(principal, request, signal);
    if (completion.stream !== true) {
      const { json } = await chat.relay(completion, context);
      // Upstream's bytes as they came: parsed once for billing, not serialised again.
      void reply.type('application/json; charset=utf-8').send(json);
      return;
    }
    const stream = await chat.openStream(completion, context);
    startEventStream(request, reply, serverTimingHeader(request, reply));
    // Graceful shutdown waits for this response like any other open request (main.ts).
    await stream.pipeTo(responseSink(reply.raw, signal));
  };

  app
    .getHttpAdapter()
    .getInstance()
    .route({
      method,
      url,
      config: { ...SERVER_TIMING_ROUTE, errorFormat: 'openai' } satisfies ErrorFormatRouteConfig,
      // Returns nothing: the reply is sent (or hijacked for a stream) by `create`, and any
      // error leaves as the global exception filter would send it.
      handler: (request, reply) => {
        create(request, reply).catch((error: unknown) => errors.send(request, reply, error));
      },
    });
}
