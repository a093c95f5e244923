import { Controller, Get, Param } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiOkResponse, ApiOperation, ApiTags } from '../http/openapi-decorators';
import { CurrentPrincipal, RequireScopes } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { UseErrorFormat } from '../common/error-format.decorator';
import type { KeywardConfig } from '../config/configuration';
import { ChatLimitsService } from './chat-limits.service';
import { ChatService } from './chat.service';
import { DomainError } from '../common/domain-error';
import { SERVER_TIMING_ROUTE } from './server-timing';

interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
  /** Keyward's addition: the routes that take it (docs/chat.md "What Keyward does to a request"). */
  kind: 'chat' | 'embedding';
}

/**
 * The OpenAI-compatible API: point any OpenAI SDK at `<keyward>/v1` with a `kw_` key.
 * Errors come in OpenAI's shape, so the SDKs raise their usual exceptions. The hot route,
 * `POST /v1/chat/completions`, is not here: it is a Fastify route outside Nest's router
 * (`chat-completions.route.ts`, docs/runtime.md "Request pipeline").
 */
@UseErrorFormat('openai')
@ApiTags('openai-compatible')
@RequireScopes('chat')
@Controller('v1')
export class ChatCompletionsController {
  /**
   * Every model a Keyward route serves — CHAT_MODELS (chat completions and Responses), then
   * EMBEDDING_MODELS — in OpenAI's format: configuration, so built once.
   */
  private readonly modelsById: ReadonlyMap<string, ModelObject>;
  private readonly offered: readonly string[];

  constructor(
    chat: ChatService,
    private readonly limits: ChatLimitsService,
    config: ConfigService<KeywardConfig, true>,
  ) {
    const embeddingModels = config.get('chat', { infer: true }).embeddingModels;
    const chatModels = new Set(chat.models);
    this.offered = [...new Set([...chat.models, ...embeddingModels])];
    this.modelsById = new Map(
      this.offered.map((id): [string, ModelObject] => [
        id,
        {
          id,
          object: 'model',
          created: 0,
          owned_by: 'keyward',
          kind: chatModels.has(id) ? 'chat' : 'embedding',
        },
      ]),
    );
  }

  @Get('models')
  @RouteConfig(SERVER_TIMING_ROUTE)
  @ApiOperation({
    summary: 'The models the caller may call, in OpenAI list format',
    description:
      "CHAT_MODELS (chat completions and Responses) then EMBEDDING_MODELS, narrowed by the API key's and its team's `models` allowlists (and, for a key or team with a USD budget, to priced models): exactly the models a call would accept.",
  })
  @ApiOkResponse({
    schema: {
      example: {
        object: 'list',
        data: [
          { id: 'gpt-4o-mini', object: 'model', created: 0, owned_by: 'keyward', kind: 'chat' },
        ],
      },
    },
  })
  async models(
    @CurrentPrincipal() principal: Principal,
  ): Promise<{ object: 'list'; data: ModelObject[] }> {
    const callable = await this.limits.callableModels(principal, this.offered);
    return { object: 'list', data: callable.flatMap((id) => this.modelsById.get(id) ?? []) };
  }

  @Get('models/:id')
  @RouteConfig(SERVER_TIMING_ROUTE)
  @ApiOperation({
    summary:
      'One model the caller may call, in OpenAI format; any other id is 404 `model_not_found`',
  })
  @ApiOkResponse({
    schema: {
      example: {
        id: 'gpt-4o-mini',
        object: 'model',
        created: 0,
        owned_by: 'keyward',
        kind: 'chat',
      },
    },
  })
  async model(
    @Param('id') id: string,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ModelObject> {
    const model = this.modelsById.get(id);
    if (!model || (await this.limits.callableModels(principal, [id])).length === 0) {
      // OpenAI's answer for a model the key cannot use, word for word in shape.
      throw new DomainError(
        'not_found',
        `The model '${id.slice(0, 256)}' does not exist or you do not have access to it.`,
        { param: 'model', openAiCode: 'model_not_found' },
      );
    }
    return model;
  }
}
