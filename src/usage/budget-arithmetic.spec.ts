import { decideReservation } from './budget-arithmetic';

describe(decideReservation.name, () => {
  const tokens = { limit: 1000, base: 100, perToken: 1 };
  const decide = (committed: number, reserved: number) =>
    decideReservation([{ committed, reserved }], [tokens], 500);

  it('grants the asked maximum when it fits', () => {
    expect(decide(0, 0)).toEqual({ granted: true, completionTokens: 500, held: [600] });
  });

  it('clamps the completion cap to what is left after spent and held tokens', () => {
    expect(decide(300, 400)).toEqual({ granted: true, completionTokens: 200, held: [300] });
  });

  it('tells "held by requests in flight" from "spent for the day"', () => {
    expect(decide(0, 950)).toEqual({ granted: false, counter: 0, exhausted: false, remaining: 50 });
    expect(decide(950, 0)).toEqual({ granted: false, counter: 0, exhausted: true, remaining: 50 });
  });

  it('never reports a negative remainder (limit lowered below what was spent)', () => {
    expect(decide(1500, 100)).toEqual({
      granted: false,
      counter: 0,
      exhausted: true,
      remaining: 0,
    });
  });

  it('takes the tightest of several counters, each in its own unit', () => {
    // Money: 1000 nano-USD left, prompt 100 × 2, output 8 per token → 100 tokens fit.
    const money = { limit: 5000, base: 200, perToken: 8 };
    expect(
      decideReservation(
        [
          { committed: 0, reserved: 0 },
          { committed: 4000, reserved: 0 },
        ],
        [tokens, money],
        500,
      ),
    ).toEqual({ granted: true, completionTokens: 100, held: [200, 1000] });
    expect(
      decideReservation(
        [
          { committed: 0, reserved: 0 },
          { committed: 4800, reserved: 0 },
        ],
        [tokens, money],
        500,
      ),
    ).toEqual({ granted: false, counter: 1, exhausted: true, remaining: 200 });
  });
});
