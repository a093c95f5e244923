import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '../http/openapi-decorators';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { CurrentPrincipal, RequireScopes } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { abortOnDisconnect } from '../chat/event-stream.response';
import { chatCallContext } from '../chat/chat-call-context';
import { SERVER_TIMING_ROUTE } from '../chat/server-timing';
import { UseErrorFormat } from '../common/error-format.decorator';
import { ZodBodyPipe } from '../common/zod-body.pipe';
import { type EmbeddingCreateRequest, embeddingCreateSchema } from './dto/embedding-create.schema';
import { EmbeddingsService } from './embeddings.service';

/** OpenAI's `/v1/embeddings`, limited to EMBEDDING_MODELS and billed like chat; OpenAI's error shape. */
@UseErrorFormat('openai')
@ApiTags('openai-compatible')
@RequireScopes('chat')
@Controller('v1/embeddings')
export class EmbeddingsController {
  constructor(private readonly embeddings: EmbeddingsService) {}

  @Post()
  @HttpCode(200)
  @RouteConfig(SERVER_TIMING_ROUTE)
  @ApiOperation({
    summary: 'OpenAI embeddings (EMBEDDING_MODELS); `encoding_format` float or base64',
  })
  @ApiBody({ schema: z.toJSONSchema(embeddingCreateSchema, { io: 'input' }) as object })
  @ApiOkResponse({ description: 'An OpenAI list of embedding objects' })
  async create(
    @Body(new ZodBodyPipe(embeddingCreateSchema)) body: EmbeddingCreateRequest,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const context = chatCallContext(principal, request, abortOnDisconnect(reply.raw));
    void reply.send(await this.embeddings.create(body, context));
  }
}
