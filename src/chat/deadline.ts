/**
 * SPEC "Wire details": UPSTREAM_TIMEOUT_MS bounds the whole upstream call, retries and
 * (for streams) the body included. Unlike `AbortSignal.timeout`, the timer is cleared as
 * soon as the call settles, so thousands of finished calls hold no timers.
 */
export class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;

  constructor(readonly ms: number) {
    this.timer = setTimeout(() => this.controller.abort(new DeadlineExceeded(ms)), ms);
    this.timer.unref();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get expired(): boolean {
    return this.controller.signal.aborted;
  }

  clear(): void {
    clearTimeout(this.timer);
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
