import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Response as OpenAIResponse } from 'openai/resources/responses/responses';
import { ChatLimitsService } from '../chat/chat-limits.service';
import { relayEventStream, type SseSink } from '../chat/chat-stream.relay';
import { type ChatCallContext, mayHaveSpent, type OpenChatStream } from '../chat/chat.service';
import { OpenAIClientService, type UpstreamStream } from '../chat/openai-client.service';
import { estimateTextTokens } from '../chat/token-estimate';
import { upstreamUserId } from '../chat/upstream-user';
import { DomainError } from '../common/domain-error';
import type { ChatConfig } from '../config/chat.config';
import type { KeywardConfig } from '../config/configuration';
import type { Reservation } from '../usage/budget-store';
import { meteredFromUpstream } from '../pricing/metered-usage';
import { callRecord, failedCallStatus, streamStatus } from '../spend/call-record';
import { BudgetService, type TokenUsage } from '../usage/budget.service';
import type { RelayOutcome } from '../chat/chat-stream.relay';
import type { ResponseCreateRequest } from './dto/response-create.schema';
import { ResponseOwnersRepository } from './response-owners.repository';
import {
  MIN_OUTPUT_TOKENS,
  nonStreamingResponseBody,
  type ResponseDecisions,
  type SanitizedResponseRequest,
  sanitizeResponseRequest,
  streamingResponseBody,
} from './response-request.sanitizer';
import { ResponseStreamTranslator } from './response-stream.translator';

/** Refused for want of a few tokens, maybe held by requests in flight: worth a retry soon. */
const IN_FLIGHT_RETRY_SECONDS = 5;

/** What `DELETE /v1/responses/{id}` answers, as OpenAI does. */
export interface DeletedResponse {
  readonly id: string;
  readonly object: 'response';
  readonly deleted: true;
}

function notFound(id: string, param: string | undefined): DomainError {
  // The same answer for an unknown id and another user's: ids are not confirmed to exist.
  return new DomainError('not_found', `No response with id '${id}' was found.`, { param });
}

/**
 * The Responses API through the server's key, with chat's guarantees (the same limits,
 * budget and upstream services): sanitise, check that a `previous_response_id` is the
 * caller's, admit (RPM, reservation of the input bound plus `max_output_tokens`), call
 * upstream, record who owns the new id, settle to `usage.input_tokens/output_tokens`.
 */
@Injectable()
export class ResponsesService {
  private readonly config: ChatConfig;

  constructor(
    config: ConfigService<KeywardConfig, true>,
    private readonly openai: OpenAIClientService,
    private readonly limits: ChatLimitsService,
    private readonly budget: BudgetService,
    private readonly owners: ResponseOwnersRepository,
  ) {
    this.config = config.get('chat', { infer: true });
  }

  async create(dto: ResponseCreateRequest, context: ChatCallContext): Promise<OpenAIResponse> {
    const { request, reservation, decisions } = await this.admit(dto, context);
    let used: TokenUsage = { promptTokens: 0, completionTokens: 0 };
    let status = '200';
    let completionText = '';
    try {
      const response = await this.openai.createResponse(
        nonStreamingResponseBody(request, decisions),
        context.signal,
        context.timing,
        context.log,
      );
      used = responseUsage(response, request);
      completionText = response.output_text ?? '';
      await this.owners.record(
        response.id,
        context.principal.userId,
        request.model,
        used.promptTokens + used.completionTokens,
      );
      // Added by the SDK, not part of OpenAI's wire format.
      delete (response as { output_text?: string }).output_text;
      return response;
    } catch (error) {
      status = failedCallStatus(error, context);
      if (mayHaveSpent(error, context)) {
        used = { promptTokens: request.promptEstimate, completionTokens: 0 };
      }
      throw error;
    } finally {
      await this.budget.settle(
        reservation,
        request.model,
        used,
        'urgent',
        callRecord(context, RESPONSES_ROUTE, {
          stream: false,
          status,
          content: () => ({ prompt: promptOf(dto), completion: completionText }),
        }),
      );
    }
  }

  async openStream(dto: ResponseCreateRequest, context: ChatCallContext): Promise<OpenChatStream> {
    const { request, reservation, decisions } = await this.admit(dto, context);
    let upstream: UpstreamStream;
    try {
      upstream = await this.openai.openResponseStream(
        streamingResponseBody(request, decisions),
        context.signal,
        context.timing,
        context.log,
      );
    } catch (error) {
      await this.budget.settle(
        reservation,
        request.model,
        {
          promptTokens: mayHaveSpent(error, context) ? request.promptEstimate : 0,
          completionTokens: 0,
        },
        'urgent',
        callRecord(context, RESPONSES_ROUTE, {
          stream: true,
          status: failedCallStatus(error, context),
          content: () => ({ prompt: promptOf(dto), completion: '' }),
        }),
      );
      throw error;
    }
    const userId = context.principal.userId;
    return {
      pipeTo: async (sink) => {
        const translator = new ResponseStreamTranslator();
        let recorded: string | undefined;
        // The id is recorded before the event that carries it reaches the client, so a
        // follow-up naming it can never arrive before its owner is known.
        const owningSink: SseSink = {
          write: async (frame) => {
            const id = translator.responseId;
            if (id !== undefined && recorded === undefined) {
              await this.owners.record(id, userId, request.model);
              recorded = id;
            }
            await sink.write(frame);
          },
          end: () => sink.end(),
        };
        let used: TokenUsage = { promptTokens: request.promptEstimate, completionTokens: 0 };
        let outcome: RelayOutcome | undefined;
        try {
          ({ outcome } = await relayEventStream({
            body: upstream.body,
            sink: owningSink,
            translator,
            clientSignal: context.signal,
            deadline: upstream.deadline,
            timing: context.timing,
          }));
          used = translator.usage ?? {
            promptTokens: request.promptEstimate,
            completionTokens: estimateTextTokens(translator.completionText),
          };
          if (outcome === 'timeout' || outcome === 'upstream_failed') {
            context.log.warn({ outcome }, 'responses stream ended early');
          }
          return outcome;
        } finally {
          await this.budget.settle(
            reservation,
            request.model,
            used,
            'relaxed',
            callRecord(context, RESPONSES_ROUTE, {
              stream: true,
              status: streamStatus(outcome),
              content: () => ({ prompt: promptOf(dto), completion: translator.completionText }),
            }),
          );
          if (recorded !== undefined) {
            await this.owners
              .setContextTokens(recorded, userId, used.promptTokens + used.completionTokens)
              .catch(() => context.log.warn('response context size not recorded'));
          }
        }
      },
    };
  }

  async retrieve(id: string, context: ChatCallContext): Promise<OpenAIResponse> {
    this.openai.assertConfigured();
    if (!(await this.owners.findOwned(id, context.principal.userId))) throw notFound(id, 'id');
    const response = await this.openai.retrieveResponse(
      id,
      context.signal,
      context.timing,
      context.log,
    );
    delete (response as { output_text?: string }).output_text;
    return response;
  }

  async remove(id: string, context: ChatCallContext): Promise<DeletedResponse> {
    this.openai.assertConfigured();
    if (!(await this.owners.findOwned(id, context.principal.userId))) throw notFound(id, 'id');
    await this.openai.deleteResponse(id, context.signal, context.timing, context.log);
    await this.owners.remove(id, context.principal.userId);
    return { id, object: 'response', deleted: true };
  }

  private async admit(dto: ResponseCreateRequest, context: ChatCallContext) {
    this.openai.assertConfigured();
    const request = sanitizeResponseRequest(dto, this.config);
    let previousContext = 0;
    if (request.previousResponseId !== undefined) {
      const owned = await this.owners.findOwned(
        request.previousResponseId,
        context.principal.userId,
      );
      if (!owned) throw notFound(request.previousResponseId, 'previous_response_id');
      // Upstream reads the whole previous conversation again: part of this input's bound.
      previousContext = owned.contextTokens;
    }
    const reservation = await this.limits.admit(
      context.principal,
      {
        model: request.model,
        promptCeiling: request.promptCeiling + previousContext,
        requestedMaxTokens: request.requestedMaxTokens,
      },
      context.ip,
    );
    if (reservation.completionTokens < MIN_OUTPUT_TOKENS) {
      await this.budget.release(reservation);
      // Spent tokens or ones held by requests in flight: the store does not say which.
      throw new DomainError(
        'quota_exceeded',
        `The daily token budget leaves fewer than ${MIN_OUTPUT_TOKENS} output tokens (OpenAI's minimum) now; it resets at 00:00 UTC.`,
        { retryAfterSeconds: IN_FLIGHT_RETRY_SECONDS },
      );
    }
    return { request, reservation, decisions: this.decisions(request, reservation, context) };
  }

  private decisions(
    request: SanitizedResponseRequest,
    reservation: Reservation,
    context: ChatCallContext,
  ): ResponseDecisions {
    return {
      maxOutputTokens: reservation.completionTokens,
      safetyIdentifier: upstreamUserId(context.principal.userId),
      store: this.config.responsesStore,
      previousResponseId: request.previousResponseId,
    };
  }
}

const RESPONSES_ROUTE = '/v1/responses';

/** The input as the request log keeps it (teams that log content). */
function promptOf(dto: ResponseCreateRequest): string {
  const { input, instructions } = dto as { input?: unknown; instructions?: unknown };
  return JSON.stringify({ instructions, input });
}

function responseUsage(response: OpenAIResponse, request: SanitizedResponseRequest): TokenUsage {
  if (response.usage) return meteredFromUpstream(response.usage);
  return {
    promptTokens: request.promptEstimate,
    completionTokens: estimateTextTokens(JSON.stringify(response.output ?? [])),
  };
}
