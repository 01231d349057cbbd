// The emulator's business clock: activation expiry, registration dates and ping ages read it. It follows wall time
// from an offset, so a test can jump it forward (expire an activation) while time still flows. Request signing is
// checked against wall time, not this clock, as a real client's clock is not moved by the test.
export interface EmulatorClock {
  now(): Date;
  /** moves the clock forward (or back, with a negative number) by `ms` */
  advance(ms: number): void;
  /** from now on, the clock reads `at` and flows from there */
  set(at: Date): void;
  /** back to wall time */
  reset(): void;
}

export function createClock(wall: () => number = Date.now): EmulatorClock {
  let offset = 0;
  return {
    now: () => new Date(wall() + offset),
    advance: (ms) => {
      offset += ms;
    },
    set: (at) => {
      offset = at.getTime() - wall();
    },
    reset: () => {
      offset = 0;
    },
  };
}
