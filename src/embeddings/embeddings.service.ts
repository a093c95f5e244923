import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { CreateEmbeddingResponse } from 'openai/resources/embeddings';
import { ChatLimitsService } from '../chat/chat-limits.service';
import { type ChatCallContext, mayHaveSpent } from '../chat/chat.service';
import { OpenAIClientService } from '../chat/openai-client.service';
import { upstreamUserId } from '../chat/upstream-user';
import type { ChatConfig } from '../config/chat.config';
import type { KeywardConfig } from '../config/configuration';
import { meteredFromUpstream } from '../pricing/metered-usage';
import { callRecord, failedCallStatus } from '../spend/call-record';
import { BudgetService, type TokenUsage } from '../usage/budget.service';
import type { EmbeddingCreateRequest } from './dto/embedding-create.schema';
import { sanitizeEmbeddingRequest } from './embedding-request.sanitizer';

/**
 * Embeddings through the server's key, with chat's limits: RPM, a reservation of the
 * input's upper bound (plus the one completion token every reservation holds), settled to
 * `usage.prompt_tokens`; a usage row per model like chat's.
 */
@Injectable()
export class EmbeddingsService {
  private readonly config: ChatConfig;

  constructor(
    config: ConfigService<KeywardConfig, true>,
    private readonly openai: OpenAIClientService,
    private readonly limits: ChatLimitsService,
    private readonly budget: BudgetService,
  ) {
    this.config = config.get('chat', { infer: true });
  }

  get models(): readonly string[] {
    return this.config.embeddingModels;
  }

  async create(
    dto: EmbeddingCreateRequest,
    context: ChatCallContext,
  ): Promise<CreateEmbeddingResponse> {
    this.openai.assertConfigured();
    const request = sanitizeEmbeddingRequest(dto, this.config);
    // Embeddings generate nothing; the budget store grants at least one completion token.
    const reservation = await this.limits.admit(
      context.principal,
      { model: request.model, promptCeiling: request.promptCeiling, requestedMaxTokens: 1 },
      context.ip,
    );
    let used: TokenUsage = { promptTokens: 0, completionTokens: 0 };
    let status = '200';
    try {
      const result = await this.openai.createEmbeddings(
        { ...request.body, user: upstreamUserId(context.principal.userId) },
        context.signal,
        context.timing,
        context.log,
      );
      used = result.usage
        ? { ...meteredFromUpstream(result.usage), completionTokens: 0, reasoningTokens: 0 }
        : { promptTokens: request.promptCeiling, completionTokens: 0 };
      return result;
    } catch (error) {
      status = failedCallStatus(error, context);
      if (mayHaveSpent(error, context)) {
        used = { promptTokens: request.promptCeiling, completionTokens: 0 };
      }
      throw error;
    } finally {
      await this.budget.settle(
        reservation,
        request.model,
        used,
        'urgent',
        callRecord(context, '/v1/embeddings', {
          stream: false,
          status,
          content: () => ({ prompt: JSON.stringify(dto.input), completion: '' }),
        }),
      );
    }
  }
}
