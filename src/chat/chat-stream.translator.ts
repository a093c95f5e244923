import { type MeteredUsage, meteredFromUpstream } from '../pricing/metered-usage';
import type { SseTranslator } from './chat-stream.relay';
import { parseSseEvent, SseEventSplitter } from './sse-events';

/**
 * Turns upstream's SSE bytes into the client's, one network chunk at a time
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
 * Every event is checked (valid JSON, no upstream `error` event) and watched for usage;
 * complete events go out unchanged, except that the usage Keyward always requests is
 * removed when the client did not ask for it. Lines end in LF or CRLF (what OpenAI and
 * compatible servers send); a lone CR is not treated as a line end.
 */
export class StreamFault extends Error {
  constructor(readonly reason: 'malformed' | 'upstream_error' | 'cut_off') {
    super(`upstream stream fault: ${reason}`);
    this.name = 'StreamFault';
  }
}

/** Usage a stream reported, with its cached and reasoning details. */
export type StreamUsage = MeteredUsage;

/** How a chunk ends when `usage: null` is its last member (compact JSON, as OpenAI sends). */
const TRAILING_NULL_USAGE = ',"usage":null}';

interface ChunkLike {
  error?: unknown;
  usage?: {
    prompt_tokens?: unknown;
    completion_tokens?: unknown;
    prompt_tokens_details?: { cached_tokens?: number | null } | null;
    completion_tokens_details?: { reasoning_tokens?: number | null } | null;
  } | null;
  choices?: Array<{
    delta?: {
      content?: unknown;
      refusal?: unknown;
      tool_calls?: Array<{ function?: { arguments?: unknown } }>;
    };
  }>;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

export class ChatStreamTranslator implements SseTranslator {
  private readonly events = new SseEventSplitter();
  /** `data: [DONE]` was seen: the stream is complete. */
  done = false;
  /** The last usage upstream reported. */
  usage?: StreamUsage;
  /**
   * The generated text relayed (content, refusals, tool-call arguments): tokenised for the
   * bill only when the stream ends without usage. Bounded by the granted `max_tokens`.
   */
  completionText = '';

  constructor(private readonly passUsage: boolean) {}

  /** The frames to send for one upstream chunk ('' when no event completed yet). */
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

  errorFrame(code: 'upstream_error' | 'upstream_timeout', message: string): string {
    return errorFrame(code, message);
  }

  /** Upstream's body ended: fine only after `[DONE]`. */
  end(): void {
    if (!this.done) throw new StreamFault('cut_off');
  }

  private translate(event: string): string {
    const { name, data: payload } = parseSseEvent(event);
    if (name === 'error') throw new StreamFault('upstream_error');
    if (payload === undefined) return '';
    if (payload === '[DONE]') {
      this.done = true;
      return 'data: [DONE]\n\n';
    }
    let chunk: ChunkLike;
    try {
      chunk = JSON.parse(payload) as ChunkLike;
    } catch {
      throw new StreamFault('malformed');
    }
    if (typeof chunk !== 'object' || chunk === null || Array.isArray(chunk)) {
      throw new StreamFault('malformed');
    }
    if (chunk.error !== undefined) throw new StreamFault('upstream_error');
    this.count(chunk);
    if (this.passUsage || !('usage' in chunk)) return `data: ${payload}\n\n`;
    // Usage was requested by Keyward, not the client: drop the usage-only chunk and the
    // `usage: null` OpenAI adds to every other chunk.
    if (chunk.usage && Array.isArray(chunk.choices) && chunk.choices.length === 0) return '';
    // OpenAI (and the mock) put it last: cut those bytes instead of re-serialising every
    // chunk. Only when it is the payload's one `"usage"` member and the object's last.
    if (
      chunk.usage === null &&
      payload.endsWith(TRAILING_NULL_USAGE) &&
      payload.indexOf('"usage"') === payload.length - TRAILING_NULL_USAGE.length + 1
    ) {
      return `data: ${payload.slice(0, -TRAILING_NULL_USAGE.length)}}\n\n`;
    }
    delete chunk.usage;
    return `data: ${JSON.stringify(chunk)}\n\n`;
  }

  private count(chunk: ChunkLike): void {
    const usage = chunk.usage;
    if (
      usage &&
      typeof usage.prompt_tokens === 'number' &&
      typeof usage.completion_tokens === 'number'
    ) {
      this.usage = meteredFromUpstream({
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        prompt_tokens_details: usage.prompt_tokens_details,
        completion_tokens_details: usage.completion_tokens_details,
      });
    }
    if (!Array.isArray(chunk.choices)) return;
    for (const choice of chunk.choices) {
      const delta = choice?.delta;
      if (!delta) continue;
      this.completionText += text(delta.content) + text(delta.refusal);
      if (Array.isArray(delta.tool_calls)) {
        for (const call of delta.tool_calls) this.completionText += text(call?.function?.arguments);
      }
    }
  }
}

/**
 * A terminating error event in OpenAI's shape: the SDKs raise an `APIError` when a data
 * line holds an `error` object. No `[DONE]` follows, so no client mistakes the cut-off
 * stream for a complete one; the connection closes right after.
 */
export function errorFrame(code: 'upstream_error' | 'upstream_timeout', message: string): string {
  return `data: ${JSON.stringify({ error: { message, type: 'api_error', param: null, code } })}\n\n`;
}
