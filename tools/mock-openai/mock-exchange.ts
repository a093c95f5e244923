import type { ServerResponse } from 'node:http';

/**
 * What an endpoint module of the mock (Responses, embeddings) gets from the server for one
 * request: the response, its abort signal and the server's ways of answering, so faults
 * behave the same on every route.
 */
export interface MockExchange {
  readonly res: ServerResponse;
  /** Aborted when the client leaves or the mock closes: ends every wait of the handler. */
  readonly signal: AbortSignal;
  /** The fault for this request (header or global), null for a normal answer. */
  readonly fault: string | null;
  /** Pause between streamed events. */
  readonly streamChunkDelayMs: number;
  sendJson(status: number, body: unknown, headers?: Record<string, string>): void;
  /** JSON, or for `slow_loris` a byte a second that never finishes. */
  sendOrTrickle(body: unknown): void;
  /** Cuts the connection (a reset before headers, a cut body after them). */
  destroyConnection(): void;
  /** Records a `usage` object the answer carries (`MockOpenAI.reportedUsage`). */
  reportUsage(usage: unknown): void;
}

/**
 * Usage details steered by markers in the prompt, as the real API would report them for a
 * cached prompt or a reasoning model: `[mock-cached:N]` reports N of the prompt tokens as
 * cached (at most all of them), `[mock-reasoning:N]` adds N reasoning tokens to the completion.
 */
export function usageMarkers(text: string): { cached: number; reasoning: number } {
  const read = (name: string) => {
    const match = new RegExp(String.raw`\[mock-${name}:(\d{1,6})\]`).exec(text);
    return match ? Number(match[1]) : 0;
  };
  return { cached: read('cached'), reasoning: read('reasoning') };
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function invalidRequest(
  message: string,
  param: string | null = null,
  code: string | null = null,
): OpenAIErrorBody {
  return { error: { message, type: 'invalid_request_error', param, code } };
}

/** The mock's token rule, the same as for chat: ceil(chars / 4). */
export function countTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
