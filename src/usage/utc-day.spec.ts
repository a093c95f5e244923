import { secondsUntilUtcMidnight, utcDay, utcDayBefore } from './utc-day';

describe('utcDay', () => {
  afterEach(() => jest.useRealTimers());

  it('formats a given instant as its UTC calendar day', () => {
    expect(utcDay(new Date('2026-03-01T23:59:59.999Z'))).toBe('2026-03-01');
    expect(utcDay(new Date('2026-03-02T00:00:00.000Z'))).toBe('2026-03-02');
    expect(utcDayBefore(1, new Date('2026-03-01T12:00:00Z'))).toBe('2026-02-28');
  });

  it('moves to the next day at 00:00 UTC, and back if the clock is set back', () => {
    jest.useFakeTimers({ now: new Date('2026-11-22T23:59:59.990Z') });
    expect(utcDay()).toBe('2026-11-22');
    jest.setSystemTime(new Date('2026-11-23T00:00:00.000Z'));
    expect(utcDay()).toBe('2026-11-23');
    jest.setSystemTime(new Date('2026-11-21T10:00:00.000Z'));
    expect(utcDay()).toBe('2026-11-21');
    expect(secondsUntilUtcMidnight(new Date('2026-11-21T23:59:59.500Z'))).toBe(1);
  });
});
