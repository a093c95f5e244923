import { Body, Controller, Delete, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '../http/openapi-decorators';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { CurrentPrincipal, RequireScopes } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { abortOnDisconnect, responseSink, startEventStream } from '../chat/event-stream.response';
import { chatCallContext } from '../chat/chat-call-context';
import { SERVER_TIMING_ROUTE, serverTimingHeader } from '../chat/server-timing';
import { DomainError } from '../common/domain-error';
import { UseErrorFormat } from '../common/error-format.decorator';
import { ZodBodyPipe } from '../common/zod-body.pipe';
import { type ResponseCreateRequest, responseCreateSchema } from './dto/response-create.schema';
import { ResponsesService } from './responses.service';

/** Response ids as OpenAI makes them; anything else cannot be one (and is never relayed). */
const RESPONSE_ID = /^resp_[A-Za-z0-9_-]{1,200}$/;

/**
 * OpenAI's Responses API (`/v1/responses`), the default of the Agents SDK and of the
 * Vercel AI SDK's `openai(model)`. Errors come in OpenAI's shape. A response id is only
 * ever served to the user who created it.
 */
@UseErrorFormat('openai')
@ApiTags('openai-compatible')
@RequireScopes('chat')
@Controller('v1/responses')
export class ResponsesController {
  constructor(private readonly responses: ResponsesService) {}

  @Post()
  @HttpCode(200)
  @RouteConfig(SERVER_TIMING_ROUTE)
  @ApiOperation({
    summary:
      'OpenAI Responses API; `stream: true` relays its server-sent events (`response.created` … `response.completed`)',
    description:
      'Function and custom tools only; `max_output_tokens` is clamped to the remaining daily budget; ' +
      '`store` is set by the server (RESPONSES_STORE); `previous_response_id` must be one of your own responses.',
  })
  @ApiBody({ schema: z.toJSONSchema(responseCreateSchema, { io: 'input' }) as object })
  @ApiOkResponse({ description: 'An OpenAI response object, or a text/event-stream of events' })
  async create(
    @Body(new ZodBodyPipe(responseCreateSchema)) body: ResponseCreateRequest,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const signal = abortOnDisconnect(reply.raw);
    const context = chatCallContext(principal, request, signal);
    if (body.stream !== true) {
      void reply.send(await this.responses.create(body, context));
      return;
    }
    const stream = await this.responses.openStream(body, context);
    startEventStream(request, reply, serverTimingHeader(request, reply));
    await stream.pipeTo(responseSink(reply.raw, signal));
  }

  @Get(':id')
  @RouteConfig(SERVER_TIMING_ROUTE)
  @ApiOperation({ summary: 'One of your own responses (404 for any other id)' })
  @ApiOkResponse({ description: 'An OpenAI response object' })
  async retrieve(
    @Param('id') id: string,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const context = chatCallContext(principal, request, abortOnDisconnect(reply.raw));
    void reply.send(await this.responses.retrieve(this.checkedId(id), context));
  }

  @Delete(':id')
  @RouteConfig(SERVER_TIMING_ROUTE)
  @ApiOperation({ summary: 'Deletes one of your own responses (404 for any other id)' })
  @ApiOkResponse({ schema: { example: { id: 'resp_abc', object: 'response', deleted: true } } })
  async remove(
    @Param('id') id: string,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const context = chatCallContext(principal, request, abortOnDisconnect(reply.raw));
    void reply.send(await this.responses.remove(this.checkedId(id), context));
  }

  private checkedId(id: string): string {
    if (!RESPONSE_ID.test(id)) {
      // Not an id OpenAI would make: nothing to look up, and nothing of it echoed back.
      throw new DomainError('not_found', 'No response with this id was found.', { param: 'id' });
    }
    return id;
  }
}
