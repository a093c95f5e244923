import { PeriodicTask, untilShortBatch } from './periodic-task';

describe(PeriodicTask.name, () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  /** Lets the task's promise chain settle between timer steps. */
  const settle = async () => {
    for (let i = 0; i < 5; i += 1) await Promise.resolve();
  };

  it('runs first after firstMs, then every everyMs, until stopped', async () => {
    const task = jest.fn(() => Promise.resolve());
    const periodic = new PeriodicTask('t', task, jest.fn(), { firstMs: 1000, everyMs: 5000 });
    periodic.start();
    await jest.advanceTimersByTimeAsync(999);
    expect(task).not.toHaveBeenCalled();
    await jest.advanceTimersByTimeAsync(1);
    expect(task).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(task).toHaveBeenCalledTimes(3);
    periodic.stop();
    await jest.advanceTimersByTimeAsync(60_000);
    expect(task).toHaveBeenCalledTimes(3);
  });

  it('reports a failed run and tries again at the next', async () => {
    const task = jest
      .fn<Promise<void>, []>()
      .mockRejectedValueOnce(new Error('database down'))
      .mockResolvedValue(undefined);
    const onError = jest.fn();
    const periodic = new PeriodicTask('prune', task, onError, { firstMs: 10, everyMs: 100 });
    periodic.start();
    await jest.advanceTimersByTimeAsync(10);
    await settle();
    expect(onError).toHaveBeenCalledWith('prune failed: database down');
    await jest.advanceTimersByTimeAsync(100);
    expect(task).toHaveBeenCalledTimes(2);
    expect(onError).toHaveBeenCalledTimes(1);
    periodic.stop();
  });

  it('never runs twice at once: a run still going when the next is due is not doubled', async () => {
    let finish: () => void = () => undefined;
    const task = jest.fn(
      () =>
        new Promise<void>((resolve) => {
          finish = resolve;
        }),
    );
    const periodic = new PeriodicTask('slow', task, jest.fn(), { firstMs: 10, everyMs: 100 });
    periodic.start();
    await jest.advanceTimersByTimeAsync(310);
    expect(task).toHaveBeenCalledTimes(1);
    finish();
    await settle();
    await jest.advanceTimersByTimeAsync(100);
    expect(task).toHaveBeenCalledTimes(2);
    periodic.stop();
  });

  it('does not keep the process alive', () => {
    const periodic = new PeriodicTask('t', () => Promise.resolve(), jest.fn());
    const setTimeoutSpy = jest.spyOn(global, 'setTimeout');
    periodic.start();
    const timer = setTimeoutSpy.mock.results[0].value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    periodic.stop();
    setTimeoutSpy.mockRestore();
  });
});

describe(untilShortBatch.name, () => {
  it('repeats full batches and stops at the first short one, counting every row', async () => {
    const counts = [3, 3, 1, 3];
    const step = jest.fn(() => Promise.resolve(counts.shift() ?? 0));
    await expect(untilShortBatch(step, 3)).resolves.toBe(7);
    expect(step).toHaveBeenCalledTimes(3);
  });
});
