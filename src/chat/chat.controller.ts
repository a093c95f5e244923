import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiOkResponse, ApiOperation, ApiTags } from '../http/openapi-decorators';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CurrentPrincipal, RequireScopes } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { chatCallContext } from './chat-call-context';
import { ChatService } from './chat.service';
import { SimpleChatRequestDto, SimpleChatResponseDto } from './dto/simple-chat.dto';
import { abortOnDisconnect } from './event-stream.response';
import { SERVER_TIMING_ROUTE } from './server-timing';

/** The plain REST chat route: problem+json errors, a compact answer. */
@ApiTags('chat')
@RequireScopes('chat')
@Controller('api/v1/chat')
export class ChatController {
  constructor(private readonly chat: ChatService) {}

  @Post()
  @HttpCode(200)
  @RouteConfig(SERVER_TIMING_ROUTE)
  @ApiOperation({
    summary: 'Chat with the model: `{messages, model?}` → `{response, model, usage}`',
  })
  @ApiOkResponse({ type: SimpleChatResponseDto })
  async create(
    @Body() body: SimpleChatRequestDto,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<SimpleChatResponseDto> {
    const context = chatCallContext(principal, request, abortOnDisconnect(reply.raw));
    const completion = await this.chat.complete(
      { model: body.model, messages: body.messages },
      context,
    );
    const usage = completion.usage;
    return {
      response: completion.choices[0]?.message?.content ?? '',
      model: completion.model,
      usage: {
        promptTokens: usage?.prompt_tokens ?? 0,
        completionTokens: usage?.completion_tokens ?? 0,
        totalTokens: usage?.total_tokens ?? 0,
      },
    };
  }
}
