/**
 * docs/reference.md "Wire details": UPSTREAM_TIMEOUT_MS bounds the whole upstream call, retries and
 * (for streams) the body included. One signal per call, aborted when the deadline passes
 * or when the client's signal aborts (the client left). Unlike `AbortSignal.timeout` +
 * `AbortSignal.any` (a dependent signal with weak-ref bookkeeping per call on Node 20),
 * it holds one timer and one listener, both released as soon as the call settles.
 */
export class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private timedOut = false;
  private readonly onClientAbort: () => void;

  constructor(
    readonly ms: number,
    private readonly clientSignal?: AbortSignal,
  ) {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(new DeadlineExceeded(ms));
    }, ms);
    this.timer.unref();
    this.onClientAbort = () => this.controller.abort(clientSignal?.reason);
    if (clientSignal?.aborted) this.onClientAbort();
    else clientSignal?.addEventListener('abort', this.onClientAbort, { once: true });
  }

  /** Aborted by the deadline or by the client's signal. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** True only when the deadline itself passed (not when the client left). */
  get expired(): boolean {
    return this.timedOut;
  }

  clear(): void {
    clearTimeout(this.timer);
    this.clientSignal?.removeEventListener('abort', this.onClientAbort);
  }
}

export class DeadlineExceeded extends Error {
  constructor(ms: number) {
    super(`upstream deadline of ${ms} ms exceeded`);
    this.name = 'DeadlineExceeded';
  }
}

/**
 * Settles with `promise`, or rejects as soon as `signal` aborts. The SDK sleeps between
 * retries without watching the signal; racing keeps the deadline exact.
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
