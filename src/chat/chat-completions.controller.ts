import { Body, Controller, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CurrentPrincipal, RequireScopes } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { ChatService } from './chat.service';
import { ChatCompletionRequestDto } from './dto/chat-completion-request.dto';
import { abortOnDisconnect, responseSink, startEventStream } from './event-stream.response';
import { chatTimingOf, SERVER_TIMING_ROUTE, serverTimingHeader } from './server-timing';

/**
 * The OpenAI-compatible API: point any OpenAI SDK at `<keyward>/v1` with a `kw_` key.
 * Errors come in OpenAI's shape (the filter picks it for `/v1/...`), so the SDKs raise
 * their usual exceptions.
 */
@ApiTags('openai-compatible')
@RequireScopes('chat')
@Controller('v1')
export class ChatCompletionsController {
  /** CHAT_MODELS in OpenAI's list format: configuration, so built once. */
  private readonly modelList: {
    object: 'list';
    data: Array<{ id: string; object: 'model'; created: number; owned_by: string }>;
  };

  constructor(private readonly chat: ChatService) {
    this.modelList = {
      object: 'list',
      data: chat.models.map((id) => ({ id, object: 'model', created: 0, owned_by: 'keyward' })),
    };
  }

  @Get('models')
  @RouteConfig(SERVER_TIMING_ROUTE)
  @ApiOperation({ summary: 'The models this server allows (CHAT_MODELS), in OpenAI list format' })
  @ApiOkResponse({
    schema: {
      example: {
        object: 'list',
        data: [{ id: 'gpt-4o-mini', object: 'model', created: 0, owned_by: 'keyward' }],
      },
    },
  })
  models() {
    return this.modelList;
  }

  @Post('chat/completions')
  @HttpCode(200)
  @RouteConfig(SERVER_TIMING_ROUTE)
  @ApiOperation({
    summary:
      'OpenAI chat completion; `stream: true` relays server-sent events ending with `data: [DONE]`',
    description:
      'Image parts: at most CHAT_MAX_IMAGES per request, each reserving its worst case on the model; ' +
      '`image_url.url` must be a `data:image/...;base64,` URL or an `https:` URL to a public host (400 otherwise).',
  })
  @ApiOkResponse({
    description: 'An OpenAI chat.completion object, or a text/event-stream of chunks',
  })
  async create(
    @Body() body: ChatCompletionRequestDto,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const signal = abortOnDisconnect(reply.raw);
    const context = { principal, ip: request.ip, signal, timing: chatTimingOf(request) };
    if (body.stream !== true) {
      void reply.send(await this.chat.complete(body, context));
      return;
    }
    const stream = await this.chat.openStream(body, context);
    startEventStream(request, reply, serverTimingHeader(request, reply));
    // Graceful shutdown waits for this response like any other open request (main.ts).
    await stream.pipeTo(responseSink(reply.raw, signal));
  }
}
