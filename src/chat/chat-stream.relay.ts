import type { Deadline } from './deadline';
import type { ChatTiming } from './server-timing';
import type { UpstreamResponse } from './upstream-fetch';

/** Where relayed frames go: the client's response, with back-pressure. */
export interface SseSink {
  /**
   * Hands the frame to the socket. Returns a promise only when the socket's buffer is full:
   * it resolves at 'drain' (the relay stops reading upstream until then) and rejects when
   * the client left. May throw (the client left already).
   */
  write(frame: string): void | Promise<void>;
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
 * Relays one upstream SSE body to the client chunk by chunk, as undici delivers it (no
 * stream object in between: `UpstreamResponse.pipe`). While a write waits for the client's
 * socket to drain, upstream's socket is not read (back-pressure) instead of filling memory.
 * Never leaves the client hanging: a fault or the deadline ends the response with an error
 * event; a client leaving aborts upstream (the caller's abort signal is part of the
 * request's signal).
 */
export function relayEventStream(options: {
  body: UpstreamResponse;
  sink: SseSink;
  translator: SseTranslator;
  clientSignal: AbortSignal;
  deadline: Deadline;
  /** Marks the relay's start, first frame and end (request log: TTFT, upstream time). */
  timing?: ChatTiming;
}): Promise<RelayResult> {
  const { body, sink, clientSignal, deadline, translator, timing } = options;
  timing?.relayStarted();
  return new Promise<RelayOutcome>((resolve) => {
    body.pipe({
      data(chunk) {
        // After `[DONE]` the client's response is complete; what follows (normally just the
        // end of the body) is read to the end, so the upstream connection stays reusable.
        if (translator.done) return undefined;
        // A StreamFault thrown here ends the exchange: `error` below.
        const frames = translator.push(chunk);
        if (!frames) return undefined;
        timing?.firstFrame();
        const written = sink.write(frames);
        if (!translator.done) return written;
        if (!written) {
          sink.end();
          return undefined;
        }
        return written.then(() => sink.end());
      },
      end() {
        try {
          // Upstream's body ended: a fault unless `[DONE]` was seen.
          translator.end();
          resolve('completed');
        } catch {
          resolve(faultOutcome());
        }
      },
      // A fault (StreamFault, a reset, an abort): the signals say whose.
      error: () => resolve(faultOutcome()),
    });
  }).then(async (outcome) => {
    timing?.relayEnded();
    deadline.clear();
    // Stops reading upstream (and frees its connection) when we stopped early.
    body.discard();
    if (outcome === 'timeout' || outcome === 'upstream_failed') {
      const frame =
        outcome === 'timeout'
          ? translator.errorFrame('upstream_timeout', 'The upstream model did not finish in time.')
          : translator.errorFrame('upstream_error', 'The upstream stream failed or ended early.');
      try {
        await sink.write(frame);
      } catch {
        // The client left meanwhile: nothing more to tell it.
      }
    }
    if (outcome !== 'client_aborted') sink.end();
    return { outcome };
  });

  function faultOutcome(): RelayOutcome {
    // Once `[DONE]` went out, the client has everything and a fault while draining changes
    // nothing.
    if (translator.done) return 'completed';
    if (clientSignal.aborted) return 'client_aborted';
    if (deadline.expired) return 'timeout';
    return 'upstream_failed';
  }
}
