// Seeded randomness. Every random draw in the library goes through here so that a run is reproducible
// from its seed, and the generator's state is plain data that a checkpoint can store and restore.
// The generator is xoshiro128** (small, fast in 32-bit JS arithmetic, good statistical quality);
// seeds are expanded with splitmix32 so that nearby seeds give unrelated streams.

export type RngState = readonly [number, number, number, number];

const splitmix32 = (x: number): [number, number] => {
  const next = (x + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [(z ^ (z >>> 16)) >>> 0, next];
};

export const seedRng = (seed: number): RngState => {
  if (!Number.isInteger(seed)) throw new Error(`seedRng: seed must be an integer, got ${seed}`);
  let x = seed | 0;
  const s: number[] = [];
  for (let i = 0; i < 4; i++) {
    const [v, nx] = splitmix32(x);
    s.push(v);
    x = nx;
  }
  return s as unknown as RngState;
};

/** Fill `out` with uniform draws in [0, 1) and return the advanced state. */
export const fillUniform = (state: RngState, out: Float32Array | Float64Array): RngState => {
  let [a, b, c, d] = state;
  for (let i = 0; i < out.length; i++) {
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    out[i] = (r >>> 8) / 16777216; // 24 bits: exact in float32, so never rounds up to 1
  }
  return [a >>> 0, b >>> 0, c >>> 0, d >>> 0];
};

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/** Standard normal draws (Box–Muller on pairs of uniforms). */
export const fillNormal = (state: RngState, out: Float32Array | Float64Array): RngState => {
  const u = new Float64Array(out.length + (out.length & 1));
  const next = fillUniform(state, u);
  for (let i = 0; i < out.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - u[i]));
    const th = 2 * Math.PI * u[i + 1];
    out[i] = r * Math.cos(th);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(th);
  }
  return next;
};

export const uniform = (state: RngState, n: number): [Float32Array, RngState] => {
  const out = new Float32Array(n);
  return [out, fillUniform(state, out)];
};

export const normal = (state: RngState, n: number): [Float32Array, RngState] => {
  const out = new Float32Array(n);
  return [out, fillNormal(state, out)];
};

/**
 * The stream of a (seed, step, purpose) triple: independent draws that need no stored state, so a
 * training run can be resumed at any step and draw exactly what it would have drawn.
 */
export const streamFor = (seed: number, step: number, purpose: number): RngState =>
  seedRng((Math.imul(seed, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca6b) ^ purpose) | 0);
