import { decideReservation } from './budget-arithmetic';

describe(decideReservation.name, () => {
  const ask = { limit: 1000, promptTokens: 100, maxCompletionTokens: 500 };

  it('grants the asked maximum when it fits', () => {
    expect(decideReservation({ committed: 0, reserved: 0 }, ask)).toEqual({
      granted: true,
      completionTokens: 500,
      tokens: 600,
    });
  });

  it('clamps the completion cap to what is left after spent and held tokens', () => {
    expect(decideReservation({ committed: 300, reserved: 400 }, ask)).toEqual({
      granted: true,
      completionTokens: 200,
      tokens: 300,
    });
  });

  it('tells "held by requests in flight" from "spent for the day"', () => {
    expect(decideReservation({ committed: 0, reserved: 950 }, ask)).toEqual({
      granted: false,
      exhausted: false,
      remaining: 50,
    });
    expect(decideReservation({ committed: 950, reserved: 0 }, ask)).toEqual({
      granted: false,
      exhausted: true,
      remaining: 50,
    });
  });

  it('never reports a negative remainder (limit lowered below what was spent)', () => {
    expect(decideReservation({ committed: 1500, reserved: 100 }, ask)).toEqual({
      granted: false,
      exhausted: true,
      remaining: 0,
    });
  });
});
