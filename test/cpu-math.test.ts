import { describe, expect, it } from 'vitest';
import { tanh32 } from '../src/compiler/backends/cpu/math.ts';

const ulpsOff = (got: number, want: number): number => {
  const w = Math.fround(want);
  return Math.abs(Math.fround(got) - w) / Math.max(2 ** -149, Math.abs(w) * 2 ** -23);
};

describe('cpu math', () => {
  it('tanh32 is within 2 float32 ulp of tanh, odd, Math.tanh past the fit, NaN for NaN', () => {
    let worst = 0;
    for (let i = -120_000; i <= 120_000; i++) {
      const x = Math.fround(i * 1e-4 * (1 + (i % 7) * 0.013));
      worst = Math.max(worst, ulpsOff(tanh32(x), Math.tanh(x)));
      expect(tanh32(-x)).toBe(-tanh32(x));
    }
    expect(worst).toBeLessThanOrEqual(2);
    for (const x of [1e-30, -1e-12, 2 ** -126]) expect(ulpsOff(tanh32(x), Math.tanh(x))).toBeLessThanOrEqual(2);
    for (const x of [8, 10, 20, 1e30, Infinity]) {
      expect(tanh32(x)).toBe(Math.tanh(x));
      expect(tanh32(-x)).toBe(-Math.tanh(x));
    }
    expect(tanh32(0)).toBe(0);
    expect(tanh32(NaN)).toBeNaN();
  });
});
