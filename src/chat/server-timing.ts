import { performance } from 'node:perf_hooks';

function ms(value: number): string {
  return (Math.round(value * 10) / 10).toString();
}

/**
 * Time spent waiting on the upstream during one chat request, for the `Server-Timing`
 * header (W3C Server Timing, https://www.w3.org/TR/server-timing/): `keyward` is
 * Keyward's own overhead (the request's whole time so far minus upstream time), `upstream`
 * the time upstream took. For a stream the header leaves with the response headers, so
 * `upstream` is the time to upstream's response headers and `keyward` the overhead
 * before the first byte; generation time is not in it.
 */
export class ChatTiming {
  private startedAt?: number;
  private upstreamMs = 0;

  upstreamStarted(): void {
    this.startedAt = performance.now();
  }

  upstreamEnded(): void {
    if (this.startedAt === undefined) return;
    this.upstreamMs += performance.now() - this.startedAt;
    this.startedAt = undefined;
  }

  /** `elapsedMs`: the request's time so far (Fastify's `reply.elapsedTime`). */
  header(elapsedMs: number): string {
    const upstream = this.upstreamMs;
    const keyward = Math.max(0, elapsedMs - upstream);
    return `keyward;desc="Keyward overhead";dur=${ms(keyward)}, upstream;desc="OpenAI";dur=${ms(upstream)}`;
  }
}
