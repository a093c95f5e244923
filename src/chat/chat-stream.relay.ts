import type { Readable } from 'node:stream';
import type { Deadline } from './deadline';
import type { ChatTiming } from './server-timing';
import { discardBody } from './upstream-fetch';

/** Where relayed frames go: the client's response, with back-pressure. */
export interface SseSink {
  /** Resolves when the frame is handed to the socket (after 'drain' if its buffer was full). */
  write(frame: string): Promise<void>;
  end(): void;
}

/**
 * Turns one API's upstream SSE bytes into the client's: chat completions
 * (`ChatStreamTranslator`) or Responses (`ResponseStreamTranslator`).
 */
export interface SseTranslator {
  /** The stream is complete (`[DONE]`, or a Responses terminal event). */
  readonly done: boolean;
  /** The frames to send for one upstream chunk ('' when no event completed yet). */
  push(bytes: Uint8Array): string;
  /** Upstream's body ended: throws unless the stream was complete. */
  end(): void;
  /** The terminating error event in the API's own shape, so the SDKs raise an error. */
  errorFrame(code: 'upstream_error' | 'upstream_timeout', message: string): string;
}

export type RelayOutcome = 'completed' | 'client_aborted' | 'timeout' | 'upstream_failed';

export interface RelayResult {
  readonly outcome: RelayOutcome;
}

/**
 * Relays one upstream SSE body to the client chunk by chunk: the next upstream chunk is
 * read only once the previous one was written, so a slow client slows the upstream read
 * (back-pressure) instead of filling memory. Never leaves the client hanging: a fault or
 * the deadline ends the response with an error event; a client leaving aborts upstream
 * (the caller's abort signal is part of the fetch signal).
 */
export async function relayEventStream(options: {
  body: Readable;
  sink: SseSink;
  translator: SseTranslator;
  clientSignal: AbortSignal;
  deadline: Deadline;
  /** Marks the relay's start, first frame and end (request log: TTFT, upstream time). */
  timing?: ChatTiming;
}): Promise<RelayResult> {
  const { body, sink, clientSignal, deadline, translator, timing } = options;
  let outcome: RelayOutcome = 'completed';
  timing?.relayStarted();
  try {
    for await (const chunk of body) {
      // After `[DONE]` the client's response is complete; what follows (normally just the
      // end of the body) is read to the end, so the upstream connection stays reusable.
      if (translator.done) continue;
      const frames = translator.push(chunk as Uint8Array);
      if (frames) {
        timing?.firstFrame();
        await sink.write(frames);
      }
      if (translator.done) sink.end();
    }
    // Upstream's body ended: a fault unless `[DONE]` was seen.
    translator.end();
  } catch {
    // A fault (StreamFault, a reset, an abort): the signals say whose. Once `[DONE]` went
    // out, the client has everything and a fault while draining changes nothing.
    if (translator.done) outcome = 'completed';
    else if (clientSignal.aborted) outcome = 'client_aborted';
    else if (deadline.expired) outcome = 'timeout';
    else outcome = 'upstream_failed';
  } finally {
    timing?.relayEnded();
    deadline.clear();
    // Stops reading upstream (and frees its connection) when we stopped early.
    discardBody(body);
  }
  if (outcome === 'timeout' || outcome === 'upstream_failed') {
    const frame =
      outcome === 'timeout'
        ? translator.errorFrame('upstream_timeout', 'The upstream model did not finish in time.')
        : translator.errorFrame('upstream_error', 'The upstream stream failed or ended early.');
    await sink.write(frame).catch(() => undefined);
  }
  if (outcome !== 'client_aborted') sink.end();
  return { outcome };
}
