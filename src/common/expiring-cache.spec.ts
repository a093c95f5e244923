import { ExpiringCache } from './expiring-cache';

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('ExpiringCache', () => {
  afterEach(() => jest.useRealTimers());

  it('shares one load between the callers that miss while it is in flight', async () => {
    const cache = new ExpiringCache<string, number>(1000, 10);
    const pending = deferred<number>();
    const load = jest.fn(() => pending.promise);
    const calls = [cache.get('a', load), cache.get('a', load), cache.get('a', load)];
    expect(load).toHaveBeenCalledTimes(1);
    pending.resolve(7);
    await expect(Promise.all(calls)).resolves.toEqual([7, 7, 7]);
    await expect(cache.get('a', load)).resolves.toBe(7);
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('loads again once the entry is older than its time to live', async () => {
    jest.useFakeTimers({ now: 0 });
    const cache = new ExpiringCache<string, number>(1000, 10);
    let n = 0;
    const load = jest.fn(() => Promise.resolve((n += 1)));
    await expect(cache.get('a', load)).resolves.toBe(1);
    jest.setSystemTime(999);
    await expect(cache.get('a', load)).resolves.toBe(1);
    jest.setSystemTime(1000);
    await expect(cache.get('a', load)).resolves.toBe(2);
  });

  it('keeps no failed load: every waiting caller gets the error, the next call retries', async () => {
    const cache = new ExpiringCache<string, number>(1000, 10);
    const pending = deferred<number>();
    const first = cache.get('a', () => pending.promise);
    const second = cache.get('a', () => Promise.resolve(0));
    pending.reject(new Error('database down'));
    await expect(first).rejects.toThrow('database down');
    await expect(second).rejects.toThrow('database down');
    await expect(cache.get('a', () => Promise.resolve(3))).resolves.toBe(3);
  });

  it('after delete, a load in flight is not kept and the next call reads again', async () => {
    const cache = new ExpiringCache<string, string>(1000, 10);
    const old = deferred<string>();
    const before = cache.get('a', () => old.promise);
    cache.delete('a');
    const after = cache.get('a', () => Promise.resolve('new'));
    old.resolve('old');
    await expect(before).resolves.toBe('old');
    await expect(after).resolves.toBe('new');
    await expect(cache.get('a', () => Promise.resolve('unused'))).resolves.toBe('new');
  });

  it('drops the oldest entry past its bound', async () => {
    const cache = new ExpiringCache<string, string>(1000, 2);
    await cache.get('a', () => Promise.resolve('a'));
    await cache.get('b', () => Promise.resolve('b'));
    await cache.get('c', () => Promise.resolve('c'));
    const load = jest.fn((key: string) => Promise.resolve(`${key}2`));
    await expect(cache.get('c', load)).resolves.toBe('c');
    await expect(cache.get('b', load)).resolves.toBe('b');
    expect(load).not.toHaveBeenCalled();
    await expect(cache.get('a', load)).resolves.toBe('a2');
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('keeps a value no longer than its own expiry when that is sooner', async () => {
    jest.useFakeTimers({ now: 0 });
    const cache = new ExpiringCache<string, { until: number }>(1000, 10, (value) => value.until);
    const load = jest.fn(() => Promise.resolve({ until: 300 }));
    await cache.get('a', load);
    jest.setSystemTime(299);
    await cache.get('a', load);
    expect(load).toHaveBeenCalledTimes(1);
    jest.setSystemTime(300);
    await cache.get('a', load);
    expect(load).toHaveBeenCalledTimes(2);
    const late = new ExpiringCache<string, { until: number }>(1000, 10, (value) => value.until);
    const far = jest.fn(() => Promise.resolve({ until: 10_000 }));
    await late.get('b', far);
    jest.setSystemTime(300 + 1000);
    await late.get('b', far);
    expect(far).toHaveBeenCalledTimes(2);
  });
});
