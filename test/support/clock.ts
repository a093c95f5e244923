/**
 * Moves only the wall clock (`Date`) to `at`; timers, immediates and I/O keep running for
 * real, so the app under test goes on working. Undo with `jest.useRealTimers()`.
 */
export function moveClockTo(at: number): void {
  jest.useFakeTimers({
    now: at,
    doNotFake: [
      'hrtime',
      'nextTick',
      'performance',
      'queueMicrotask',
      'setImmediate',
      'clearImmediate',
      'setInterval',
      'clearInterval',
      'setTimeout',
      'clearTimeout',
    ],
  });
}
