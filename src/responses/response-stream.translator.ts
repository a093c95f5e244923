import type { SseTranslator } from '../chat/chat-stream.relay';
import { StreamFault, type StreamUsage } from '../chat/chat-stream.translator';
import { meteredFromUpstream } from '../pricing/metered-usage';
import { parseSseEvent, SseEventSplitter } from '../chat/sse-events';

/** The events that end a Responses stream (there is no `[DONE]`). */
const TERMINAL_EVENTS = new Set(['response.completed', 'response.incomplete', 'response.failed']);

interface EventLike {
  type?: unknown;
  delta?: unknown;
  sequence_number?: unknown;
  response?: {
    id?: unknown;
    usage?: {
      input_tokens?: unknown;
      output_tokens?: unknown;
      input_tokens_details?: { cached_tokens?: number | null } | null;
      output_tokens_details?: { reasoning_tokens?: number | null } | null;
    } | null;
  };
}

/**
 * The Responses API's SSE stream (`event: response.output_text.delta` + `data: {...}`),
 * relayed event by event unchanged. Every event is checked (valid JSON, not an upstream
 * `error`) and read for what Keyward needs: the response id (ownership is recorded before
 * the client sees it), the usage of the terminal event (billing), and the generated text
 * (the estimate when the stream is cut before usage came).
 */
export class ResponseStreamTranslator implements SseTranslator {
  private readonly events = new SseEventSplitter();
  private lastSequence = -1;
  done = false;
  /** Upstream's id for this response, from `response.created`. */
  responseId?: string;
  usage?: StreamUsage;
  /** The relayed text, for a tokenizer count when upstream never reports usage. */
  completionText = '';

  get completionChars(): number {
    return this.completionText.length;
  }

  push(bytes: Uint8Array): string {
    if (this.done) return '';
    this.events.feed(bytes);
    let out = '';
    for (let event = this.events.next(); event !== undefined; event = this.events.next()) {
      out += this.translate(event);
      if (this.done) break;
    }
    if (this.events.overflowing) throw new StreamFault('malformed');
    return out;
  }

  end(): void {
    if (!this.done) throw new StreamFault('cut_off');
  }

  /**
   * OpenAI's streamed `error` event: the SDKs raise an `APIError` with its message. The
   * connection closes right after; no terminal event follows, so no client mistakes the
   * stream for complete.
   */
  errorFrame(code: 'upstream_error' | 'upstream_timeout', message: string): string {
    const event = {
      type: 'error',
      code,
      message,
      param: null,
      sequence_number: this.lastSequence + 1,
    };
    return `event: error\ndata: ${JSON.stringify(event)}\n\n`;
  }

  private translate(event: string): string {
    const { name, data: payload } = parseSseEvent(event);
    if (name === 'error') throw new StreamFault('upstream_error');
    if (payload === undefined) return '';
    let parsed: EventLike;
    try {
      parsed = JSON.parse(payload) as EventLike;
    } catch {
      throw new StreamFault('malformed');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new StreamFault('malformed');
    }
    const type = typeof parsed.type === 'string' ? parsed.type : name;
    if (type === 'error' || 'error' in parsed) throw new StreamFault('upstream_error');
    if (typeof parsed.sequence_number === 'number') this.lastSequence = parsed.sequence_number;
    this.read(type, parsed);
    // Re-framed from the parsed lines: comments and CRLFs dropped, content unchanged.
    return `${name === undefined ? '' : `event: ${name}\n`}data: ${payload}\n\n`;
  }

  private read(type: string | undefined, event: EventLike): void {
    if (type === 'response.created' && typeof event.response?.id === 'string') {
      this.responseId = event.response.id;
    }
    if (
      (type === 'response.output_text.delta' ||
        type === 'response.function_call_arguments.delta' ||
        type === 'response.refusal.delta') &&
      typeof event.delta === 'string'
    ) {
      this.completionText += event.delta;
    }
    if (type !== undefined && TERMINAL_EVENTS.has(type)) {
      const usage = event.response?.usage;
      if (
        usage &&
        typeof usage.input_tokens === 'number' &&
        typeof usage.output_tokens === 'number'
      ) {
        this.usage = meteredFromUpstream({
          input_tokens: usage.input_tokens,
          output_tokens: usage.output_tokens,
          input_tokens_details: usage.input_tokens_details,
          output_tokens_details: usage.output_tokens_details,
        });
      }
      this.done = true;
    }
  }
}
