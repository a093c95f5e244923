// Preloaded (`node --import`) into a Keyward process by a test to run it with a wrong wall
// clock: KEYWARD_TEST_CLOCK_OFFSET_MS is added to every `Date` reading. Timers stay real.
const offset = Number(process.env.KEYWARD_TEST_CLOCK_OFFSET_MS ?? 0);
const RealDate = Date;
class SkewedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + offset);
    else super(...args);
  }
  static now() {
    return RealDate.now() + offset;
  }
}
globalThis.Date = SkewedDate;
