import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type {
  ChatCompletion,
  ChatCompletionCreateParamsNonStreaming,
} from 'openai/resources/chat/completions';
import type { Principal } from '../auth/principal';
import type { RequestLog } from '../logging/request-log';
import { DomainError } from '../common/domain-error';
import type { ChatConfig } from '../config/chat.config';
import type { KeywardConfig } from '../config/configuration';
import type { Reservation } from '../usage/budget-store';
import { meteredFromUpstream } from '../pricing/metered-usage';
import { callRecord, type CallContent, failedCallStatus, streamStatus } from '../spend/call-record';
import { BudgetService, type TokenUsage } from '../usage/budget.service';
import { ChatLimitsService } from './chat-limits.service';
import {
  nonStreamingBody,
  type SanitizedChatRequest,
  sanitizeChatRequest,
  streamingBody,
} from './chat-request.sanitizer';
import { relayEventStream, type RelayOutcome, type SseSink } from './chat-stream.relay';
import { ChatStreamTranslator } from './chat-stream.translator';
import type { ChatCompletionRequest } from './dto/chat-completion-request.schema';
import {
  OpenAIClientService,
  type RelayedCompletion,
  type UpstreamStream,
} from './openai-client.service';
import type { ChatTiming } from './server-timing';
import { estimateTextTokens } from './token-estimate';
import { upstreamUserId } from './upstream-user';

/** Who is calling and how to give up: one per HTTP request. */
export interface ChatCallContext {
  readonly principal: Principal;
  readonly ip?: string;
  /** Aborted when the client disconnects: the upstream call is aborted with it. */
  readonly signal: AbortSignal;
  /**
   * Watches the upstream exchange: its network time for `Server-Timing`, and whether
   * upstream answered 2xx, which decides what a failed call is billed (`mayHaveSpent`).
   */
  readonly timing: ChatTiming;
  /** The request's logger: per-request lines carry its request id. */
  readonly log: RequestLog;
  /** For the request log: the request's id and route template. */
  readonly requestId?: string;
  readonly route?: string;
}

/** An upstream stream whose headers arrived; `pipeTo` relays it and bills it. */
export interface OpenChatStream {
  pipeTo(sink: SseSink): Promise<RelayOutcome>;
}

/**
 * Chat through the server's OpenAI key: sanitise the request, admit it (RPM, budget
 * reservation), call upstream, settle the reservation to what was really used — whatever
 * the outcome, client disconnects and upstream failures included (docs/reference.md "Chat").
 */
@Injectable()
export class ChatService {
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
    return this.config.models;
  }

  /** `/api/v1/chat`: the completion through the SDK, typed (the route reshapes it). */
  async complete(dto: ChatCompletionRequest, context: ChatCallContext): Promise<ChatCompletion> {
    const { completion } = await this.completeVia(dto, context, async (body) => ({
      completion: await this.openai.createCompletion(
        body,
        context.signal,
        context.timing,
        context.log,
      ),
    }));
    return completion;
  }

  /** `/v1/chat/completions` without `stream`: upstream's JSON relayed as is (see `relayCompletion`). */
  relay(dto: ChatCompletionRequest, context: ChatCallContext): Promise<RelayedCompletion> {
    return this.completeVia(dto, context, (body) =>
      this.openai.relayCompletion(body, context.signal, context.timing, context.log),
    );
  }

  /** Admit, call upstream with the body Keyward built, settle whatever happened. */
  private async completeVia<T extends { readonly completion: ChatCompletion }>(
    dto: ChatCompletionRequest,
    context: ChatCallContext,
    send: (body: ChatCompletionCreateParamsNonStreaming) => Promise<T>,
  ): Promise<T> {
    const { request, reservation } = await this.admit(dto, context);
    let used: TokenUsage = { promptTokens: 0, completionTokens: 0 };
    let status = '200';
    let answered: ChatCompletion | undefined;
    try {
      const result = await send(
        nonStreamingBody(request, this.decisions(reservation, context.principal)),
      );
      used = completionUsage(result.completion, request);
      answered = result.completion;
      return result;
    } catch (error) {
      status = failedCallStatus(error, context);
      if (mayHaveSpent(error, context)) {
        // A non-streamed answer is generated whole before upstream replies: when it may
        // have run, it may have run to the cap. The whole reservation is billed.
        used = {
          promptTokens: request.promptCeiling,
          completionTokens: reservation.completionTokens,
        };
      }
      throw error;
    } finally {
      await this.budget.settle(
        reservation,
        request.model,
        used,
        'urgent',
        callRecord(context, CHAT_ROUTE, {
          stream: false,
          status,
          // Read only when the request log keeps content (off the path otherwise).
          content: () => ({
            prompt: promptOf(dto),
            completion: (answered?.choices ?? [])
              .map((choice) => choice.message?.content ?? '')
              .join(''),
          }),
        }),
      );
    }
  }

  /**
   * Admits the request and opens the upstream stream. Everything that can fail before the
   * first byte fails here, as an ordinary error response.
   */
  async openStream(dto: ChatCompletionRequest, context: ChatCallContext): Promise<OpenChatStream> {
    const { request, reservation } = await this.admit(dto, context);
    let upstream: UpstreamStream;
    try {
      upstream = await this.openai.openStream(
        streamingBody(request, this.decisions(reservation, context.principal)),
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
        callRecord(context, CHAT_ROUTE, {
          stream: true,
          status: failedCallStatus(error, context),
          content: () => ({ prompt: promptOf(dto), completion: '' }),
        }),
      );
      throw error;
    }
    return {
      pipeTo: async (sink) => {
        let used: TokenUsage | undefined;
        let outcome: RelayOutcome | undefined;
        const translator = new ChatStreamTranslator(request.clientWantsUsage);
        try {
          ({ outcome } = await relayEventStream({
            body: upstream.body,
            sink,
            translator,
            clientSignal: context.signal,
            deadline: upstream.deadline,
            timing: context.timing,
          }));
          // Billed whatever happened: the last usage upstream reported, else an estimate.
          used = translator.usage ?? {
            promptTokens: request.promptEstimate,
            completionTokens: estimateTextTokens(translator.completionText),
          };
          if (outcome === 'timeout' || outcome === 'upstream_failed') {
            context.log.warn({ outcome }, 'chat stream ended early');
          }
          return outcome;
        } finally {
          // The client has the whole stream already: the write may wait for company.
          // If the relay itself threw, the prompt is still billed (counted only then: the
          // tokenizer stays off the path of streams that end normally).
          used ??= { promptTokens: request.promptEstimate, completionTokens: 0 };
          const content = (): CallContent => ({
            prompt: promptOf(dto),
            completion: translator.completionText,
          });
          await this.budget.settle(
            reservation,
            request.model,
            used,
            'relaxed',
            callRecord(context, CHAT_ROUTE, {
              stream: true,
              status: streamStatus(outcome),
              content,
            }),
          );
        }
      },
    };
  }

  private async admit(
    dto: ChatCompletionRequest,
    context: ChatCallContext,
  ): Promise<{ request: SanitizedChatRequest; reservation: Reservation }> {
    this.openai.assertConfigured();
    const request = sanitizeChatRequest(dto, this.config);
    const reservation = await this.limits.admit(context.principal, request, context.ip);
    return { request, reservation };
  }

  private decisions(reservation: Reservation, principal: Principal) {
    return { maxTokens: reservation.completionTokens, user: upstreamUserId(principal.userId) };
  }
}

/**
 * A failed call is billed when upstream may have worked on it: the client left after the
 * request went upstream (a dropped connection need not stop a non-streamed generation), the
 * deadline passed (a non-streamed answer only comes once generation is done), or upstream
 * answered 2xx and then failed us (a cut or invalid body). Refusals (an upstream error
 * status, a connection that never carried an answer, our own checks, a client gone before
 * the upstream call) cost nothing. When in doubt the budget errs on the hard side.
 */
export function mayHaveSpent(error: unknown, context: ChatCallContext): boolean {
  return (
    (context.signal.aborted && context.timing.upstreamCalled) ||
    context.timing.upstreamAccepted ||
    (error instanceof DomainError && error.code === 'upstream_timeout')
  );
}

/** The route a call record names when the context does not carry the request's own. */
const CHAT_ROUTE = '/v1/chat/completions';

/** The prompt as the request log keeps it (teams that log content): the messages as sent. */
function promptOf(dto: ChatCompletionRequest): string {
  return JSON.stringify(dto.messages);
}

function completionUsage(completion: ChatCompletion, request: SanitizedChatRequest): TokenUsage {
  if (completion.usage) return meteredFromUpstream(completion.usage);
  const text = completion.choices.map((choice) => choice.message?.content ?? '').join('');
  return { promptTokens: request.promptEstimate, completionTokens: estimateTextTokens(text) };
}
