/** When housekeeping runs: the first time `firstMs` after start, then every `everyMs`. */
export interface PeriodicSchedule {
  readonly firstMs: number;
  readonly everyMs: number;
}

/** Hourly, the first time a minute after start (not during start-up itself). */
export const HOURLY: PeriodicSchedule = { firstMs: 60_000, everyMs: 60 * 60_000 };

/**
 * Housekeeping that every instance runs on a timer (request-log retention, ended sessions:
 * docs/database.md "Housekeeping"). A run that fails is logged and the next one tries again; a
 * run still going when the next is due is not doubled; the timers never keep the process alive.
 * The task must be safe on several instances at once: batched statements that skip rows another
 * instance holds (`FOR UPDATE SKIP LOCKED`), repeated with `untilShortBatch`.
 */
export class PeriodicTask {
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly name: string,
    private readonly task: () => Promise<unknown>,
    private readonly onError: (message: string) => void,
    private readonly schedule: PeriodicSchedule = HOURLY,
  ) {}

  start(): void {
    this.stop();
    this.timer = setTimeout(() => {
      this.timer = setInterval(() => this.tick(), this.schedule.everyMs);
      this.timer.unref();
      this.tick();
    }, this.schedule.firstMs);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (this.running) return;
    this.running = true;
    void this.task()
      .catch((error: unknown) =>
        this.onError(`${this.name} failed: ${error instanceof Error ? error.message : 'error'}`),
      )
      .finally(() => {
        this.running = false;
      });
  }
}

/**
 * Repeats a batched statement (which returns how many rows it touched, at most `batch`) until a
 * batch comes back short: short transactions, no long locks. Returns the rows touched in all.
 */
export async function untilShortBatch(step: () => Promise<number>, batch: number): Promise<number> {
  let total = 0;
  for (;;) {
    const count = await step();
    total += count;
    if (count < batch) return total;
  }
}
