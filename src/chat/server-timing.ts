import { performance } from 'node:perf_hooks';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Route config (`@RouteConfig(SERVER_TIMING_ROUTE)`): every answer of this route carries
 * `Server-Timing`, refusals (401/403 from the guard, 400 from validation, 429) included.
 * The `onSend` hook in `http/fastify-hooks.ts` sets it, after serialisation; a streamed answer sets
 * it with its SSE headers (`startEventStream`), since `onSend` does not run for those.
 */
export const SERVER_TIMING_ROUTE = { serverTiming: true } as const;

function ms(value: number): string {
  return (Math.round(value * 10) / 10).toString();
}

/**
 * Time spent waiting on the upstream during one chat request, for the `Server-Timing`
 * header (W3C Server Timing, https://www.w3.org/TR/server-timing/). `upstream` is network
 * time only, stamped inside the upstream `fetch` (`upstream-fetch.ts`): from handing the
 * request to the connection to upstream's response headers, plus reading a whole
 * (non-stream) body. `keyward` is the rest of the request's time so far: the pipeline,
 * checks, the `openai` SDK's own work, serialisation. For a stream the header leaves with
 * the response headers, so `keyward` is the overhead before the first byte and
 * generation time is not in it.
 */
export class ChatTiming {
  /** When the request arrived (the `onRequest` hook creates the timing of chat routes). */
  readonly requestStartedAt = performance.now();
  readonly requestStartedAtDate = new Date();
  private startedAt?: number;
  private upstreamMs = 0;
  private relayStartedAt?: number;
  private firstFrameAt?: number;
  private relayEndedAt?: number;
  /** Upstream answered a 2xx (to any attempt): it took the request on and may have spent tokens. */
  upstreamAccepted = false;
  /** A request was handed to upstream (any attempt): it may be working on it. */
  upstreamCalled = false;

  upstreamAnswered(status: number): void {
    if (status >= 200 && status < 300) this.upstreamAccepted = true;
  }

  upstreamStarted(): void {
    this.upstreamCalled = true;
    this.startedAt = performance.now();
  }

  upstreamEnded(): void {
    if (this.startedAt === undefined) return;
    this.upstreamMs += performance.now() - this.startedAt;
    this.startedAt = undefined;
  }

  /** A stream's relay starts (its headers are in): generation time is upstream time from here. */
  relayStarted(): void {
    this.relayStartedAt ??= performance.now();
  }

  /** The first frame went to the client: time to first token. */
  firstFrame(): void {
    this.firstFrameAt ??= performance.now();
  }

  relayEnded(): void {
    this.relayEndedAt ??= performance.now();
  }

  /**
   * The request log's figures (docs/request-log.md), whole milliseconds. `upstreamMs`: network
   * time to upstream, for a stream up to its last byte; `keywardMs`: the rest of the request's
   * time, for a stream the overhead before its first byte (as in `Server-Timing`); `ttftMs`:
   * from the request's arrival to the first frame sent, streams only.
   */
  figures(): { keywardMs: number; upstreamMs: number; ttftMs: number | null } {
    const now = performance.now();
    if (this.relayStartedAt === undefined) {
      const total = now - this.requestStartedAt;
      return {
        keywardMs: Math.round(Math.max(0, total - this.upstreamMs)),
        upstreamMs: Math.round(this.upstreamMs),
        ttftMs: null,
      };
    }
    const relay = (this.relayEndedAt ?? now) - this.relayStartedAt;
    return {
      keywardMs: Math.round(
        Math.max(0, this.relayStartedAt - this.requestStartedAt - this.upstreamMs),
      ),
      upstreamMs: Math.round(this.upstreamMs + relay),
      ttftMs:
        this.firstFrameAt === undefined
          ? null
          : Math.round(this.firstFrameAt - this.requestStartedAt),
    };
  }

  /** `elapsedMs`: the request's time so far (Fastify's `reply.elapsedTime`). */
  header(elapsedMs: number): string {
    const upstream = this.upstreamMs;
    const keyward = Math.max(0, elapsedMs - upstream);
    return `keyward;desc="Keyward overhead";dur=${ms(keyward)}, upstream;desc="OpenAI";dur=${ms(upstream)}`;
  }
}

const timings = new WeakMap<object, ChatTiming>();

/** The request's timing, created on first use (kept beside the request, not on it). */
export function chatTimingOf(request: FastifyRequest): ChatTiming {
  let timing = timings.get(request.raw);
  if (!timing) {
    timing = new ChatTiming();
    timings.set(request.raw, timing);
  }
  return timing;
}

/** The header for this request now; Keyward's time alone when upstream was never called. */
export function serverTimingHeader(request: FastifyRequest, reply: FastifyReply): string {
  return (timings.get(request.raw) ?? NO_UPSTREAM).header(reply.elapsedTime);
}

const NO_UPSTREAM = new ChatTiming();
