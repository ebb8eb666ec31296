// fast-check generators and properties for DRAW, shipped so that users run the same checks on
// their own filter shapes, read/write parts and configs. Each property evaluates graphs with the
// float64 reference interpreter and returns true, or throws an Error saying what failed and where.
import fc from 'fast-check';
import type { Shape } from '../dsl/shape.ts';
import type { Tensor } from '../dsl/tensor.ts';
import { fill, mul, sum } from '../dsl/ops.ts';
import { fillNormal, fillUniform, seedRng } from '../dsl/rng.ts';
import { gradCheck, type GradCheckResult } from './gradcheck.ts';
import { trace, type Traced } from '../compiler/trace.ts';
import { evaluate, type Feeds } from '../compiler/evaluate.ts';
import { unwrap } from '../util.ts';
import { imageSize, type DrawConfig } from '../models/draw/config.ts';
import {
  filterRead,
  filterWrite,
  filterbank,
  gaussian,
  type Filterbank,
  type FilterShape,
} from '../models/draw/filterbank.ts';
import { klStdNormal } from '../models/draw/latent.ts';
import { draw, type DrawModel } from '../models/draw/draw.ts';
import type { Parts } from '../models/draw/model.ts';

type Named = Readonly<Record<string, Tensor>>;

/** Traces `fn` over inputs of `specs` and evaluates it at `feeds` (float64). */
export const run = (
  fn: (xs: Named) => Traced,
  specs: Readonly<Record<string, Shape>>,
  feeds: Feeds,
): Record<string, Float64Array> => unwrap(evaluate(unwrap(trace(fn, specs)), feeds));

const fail = (msg: string): never => {
  throw new Error(msg);
};

// ---- filterbanks ----

/** One filterbank's inputs, per image: centres gx, gy (1-based pixels), σ², stride δ. */
export interface FilterCase {
  readonly N: number;
  readonly A: number;
  readonly B: number;
  readonly gx: Float64Array;
  readonly gy: Float64Array;
  readonly sigma2: Float64Array;
  readonly delta: Float64Array;
}

const values = (n: number, v: fc.Arbitrary<number>): fc.Arbitrary<Float64Array> =>
  fc.array(v, { minLength: n, maxLength: n }).map((xs) => Float64Array.from(xs));

/** A centre on or near the image, or (one time in three) 10³–10⁶ pixels away on either side. */
const arbCentre = (size: number): fc.Arbitrary<number> =>
  fc.oneof(
    { arbitrary: fc.double({ min: -size, max: 2 * size + 1, noNaN: true }), weight: 2 },
    {
      arbitrary: fc
        .tuple(fc.boolean(), fc.double({ min: 1e3, max: 1e6, noNaN: true }))
        .map(([neg, d]) => (neg ? -d : size + d)),
      weight: 1,
    },
  );

/**
 * Random grids: N 1–6, images 1–30 px a side, δ 0–10 px, σ² = e^u with u uniform in [−30, 6]
 * (σ from 3·10⁻⁷ to 20 px) or, one time in four, in [−80, −30] (σ down to 4·10⁻¹⁸ px).
 */
export const arbFilterCase: fc.Arbitrary<FilterCase> = fc
  .record({
    batch: fc.integer({ min: 1, max: 3 }),
    N: fc.integer({ min: 1, max: 6 }),
    A: fc.integer({ min: 1, max: 30 }),
    B: fc.integer({ min: 1, max: 30 }),
  })
  .chain(({ batch, N, A, B }) =>
    fc.record({
      N: fc.constant(N),
      A: fc.constant(A),
      B: fc.constant(B),
      gx: values(batch, arbCentre(A)),
      gy: values(batch, arbCentre(B)),
      sigma2: values(
        batch,
        fc
          .oneof(
            { arbitrary: fc.double({ min: -30, max: 6, noNaN: true }), weight: 3 },
            { arbitrary: fc.double({ min: -80, max: -30, noNaN: true }), weight: 1 },
          )
          .map(Math.exp),
      ),
      delta: values(batch, fc.double({ min: 0, max: 10, noNaN: true })),
    }),
  );

/** Grids well inside 32–48 px images: centres near the middle, σ 0.8–1.6 px, δ 0–2 px. */
export const arbInteriorFilterCase: fc.Arbitrary<FilterCase> = fc
  .record({
    batch: fc.integer({ min: 1, max: 2 }),
    N: fc.integer({ min: 1, max: 6 }),
    A: fc.integer({ min: 32, max: 48 }),
    B: fc.integer({ min: 32, max: 48 }),
  })
  .chain(({ batch, N, A, B }) =>
    fc.record({
      N: fc.constant(N),
      A: fc.constant(A),
      B: fc.constant(B),
      gx: values(batch, fc.double({ min: A / 2 - 2, max: A / 2 + 3, noNaN: true })),
      gy: values(batch, fc.double({ min: B / 2 - 2, max: B / 2 + 3, noNaN: true })),
      sigma2: values(batch, fc.double({ min: 0.64, max: 2.56, noNaN: true })),
      delta: values(batch, fc.double({ min: 0, max: 2, noNaN: true })),
    }),
  );

const batchOf = (c: FilterCase): number => c.gx.length;
const columnSpecs = (c: FilterCase) =>
  Object.fromEntries(['gx', 'gy', 'sigma2', 'delta'].map((k) => [k, [batchOf(c), 1]]));
const columnFeeds = (c: FilterCase): Feeds => ({ gx: c.gx, gy: c.gy, sigma2: c.sigma2, delta: c.delta });
const bankOf =
  (c: FilterCase, shape: FilterShape) =>
  (xs: Named): Filterbank =>
    filterbank(xs.gx, xs.gy, xs.sigma2, xs.delta, c.N, c.A, c.B, shape);

/** Fx [batch, N, A] and Fy [batch, N, B] of a case, evaluated. */
export const evalFilterbank = (
  c: FilterCase,
  shape: FilterShape = gaussian,
): { Fx: Float64Array; Fy: Float64Array } => {
  const { Fx, Fy } = run((xs) => ({ ...bankOf(c, shape)(xs) }), columnSpecs(c), columnFeeds(c));
  return { Fx, Fy };
};

/** Calls `f(axis, image, filter, row)` for each filter row of Fx (axis 'x') and Fy ('y'). */
const eachRow = (
  c: FilterCase,
  F: { Fx: Float64Array; Fy: Float64Array },
  f: (axis: 'x' | 'y', n: number, i: number, row: Float64Array) => void,
): void => {
  (['x', 'y'] as const).forEach((axis) => {
    const size = axis === 'x' ? c.A : c.B;
    const data = axis === 'x' ? F.Fx : F.Fy;
    for (let n = 0; n < batchOf(c); n++)
      for (let i = 0; i < c.N; i++) f(axis, n, i, data.subarray((n * c.N + i) * size, (n * c.N + i + 1) * size));
  });
};

/** Every row of Fx and Fy is finite, non-negative and sums to 1 (within `tol`). */
export const rowsSumToOne = (c: FilterCase, shape: FilterShape = gaussian, tol = 1e-9): boolean => {
  eachRow(c, evalFilterbank(c, shape), (axis, n, i, row) => {
    const s = row.reduce((a, b) => a + b, 0);
    if (!row.every((v) => Number.isFinite(v) && v >= 0) || !(Math.abs(s - 1) <= tol))
      fail(
        `F${axis} of image ${n}, filter ${i}: row sums to ${s} (values ${[...row].join(', ')}; case ${JSON.stringify(c)})`,
      );
  });
  return true;
};

/** The paper's μ_i = g + (i − N/2 − 0.5)·δ for 1-based i, in 0-based pixel coordinates. */
export const filterCentre = (g: number, delta: number, N: number, i0: number): number =>
  g - 1 + (i0 + 1 - N / 2 - 0.5) * delta;

/**
 * Each filter whose centre μ_i lies at least `margin`·σ inside the image has its mass centred on μ_i:
 * |Σ_a a·F[i,a] − μ_i| ≤ tol. Default tol: 10⁻⁴ px for σ ≥ 0.8 (a sampled Gaussian's mean is off
 * by ~4πσ²·e^{−2π²σ²} ≤ 3·10⁻⁵ there, truncation at 6σ by less), half a pixel for narrower filters
 * (the mass sits on the pixels nearest μ_i).
 */
export const massCentred = (
  c: FilterCase,
  shape: FilterShape = gaussian,
  margin = 6,
  tol = (sigma: number) => (sigma >= 0.8 ? 1e-4 : 0.5),
): boolean => {
  eachRow(c, evalFilterbank(c, shape), (axis, n, i, row) => {
    const sigma = Math.sqrt(c.sigma2[n]);
    const mu = filterCentre(axis === 'x' ? c.gx[n] : c.gy[n], c.delta[n], c.N, i);
    if (mu < margin * sigma || mu > row.length - 1 - margin * sigma) return;
    const mean = row.reduce((acc, v, a) => acc + a * v, 0);
    if (!(Math.abs(mean - mu) <= tol(sigma)))
      fail(
        `F${axis} of image ${n}, filter ${i}: mass centred at ${mean}, expected μ = ${mu} (σ = ${sigma}; case ${JSON.stringify(c)})`,
      );
  });
  return true;
};

const normals = (n: number, seed: number): Float64Array => {
  const v = new Float64Array(n);
  fillNormal(seedRng(seed), v);
  return v;
};

/** With γ = 1, ⟨read(x), w⟩ = ⟨x, write(w)⟩ for random x [batch, K, B, A], w [batch, K, N, N]. */
export const readWriteAdjoint = (
  c: FilterCase,
  shape: FilterShape = gaussian,
  K = 2,
  seed = 0,
  tol = 1e-9,
): boolean => {
  const batch = batchOf(c);
  const specs = { ...columnSpecs(c), x: [batch, K, c.B, c.A], w: [batch, K, c.N, c.N] };
  const { lhs, rhs } = run(
    (xs) => {
      const F = bankOf(c, shape)(xs);
      const one = fill([batch, 1], 1);
      return { lhs: sum(mul(filterRead(F, one, xs.x), xs.w)), rhs: sum(mul(xs.x, filterWrite(F, one, xs.w))) };
    },
    specs,
    { ...columnFeeds(c), x: normals(batch * K * c.A * c.B, seed), w: normals(batch * K * c.N * c.N, seed + 1) },
  );
  if (!(Math.abs(lhs[0] - rhs[0]) <= tol * Math.max(1, Math.abs(lhs[0]))))
    fail(`⟨read(x), w⟩ = ${lhs[0]} but ⟨x, write(w)⟩ = ${rhs[0]} (case ${JSON.stringify(c)})`);
  return true;
};

/** Reading a constant image of value v with intensity γ gives γ·v everywhere (rows normalised). */
export const constantRead = (
  c: FilterCase,
  v: number,
  gamma: number,
  shape: FilterShape = gaussian,
  tol = 1e-9,
): boolean => {
  const batch = batchOf(c);
  const { out } = run(
    (xs) => filterRead(bankOf(c, shape)(xs), fill([batch, 1], gamma), fill([batch, 1, c.B, c.A], v)),
    columnSpecs(c),
    columnFeeds(c),
  );
  const bad = out.findIndex((r) => !(Math.abs(r - gamma * v) <= tol * Math.max(1, Math.abs(gamma * v))));
  if (bad >= 0)
    fail(
      `reading constant ${v} with γ = ${gamma} gave ${out[bad]} at ${bad}, expected ${gamma * v} (case ${JSON.stringify(c)})`,
    );
  return true;
};

// ---- latent ----

/** KL(N(μ, σ²) ‖ N(0, 1)) per row of [rows, Z] inputs μ and log σ. */
export const evalKl = (mu: Float64Array, logSigma: Float64Array, Z: number): Float64Array =>
  run(
    (xs) => klStdNormal(xs.mu, xs.logSigma),
    { mu: [mu.length / Z, Z], logSigma: [mu.length / Z, Z] },
    { mu, logSigma },
  ).out;

/** μ, log σ with at least one entry at least 10⁻³ from (0, 0): the KL must be positive. */
export const arbOffPrior = (Z: number): fc.Arbitrary<{ mu: Float64Array; logSigma: Float64Array }> =>
  fc
    .tuple(
      values(Z, fc.double({ min: -3, max: 3, noNaN: true })),
      values(Z, fc.double({ min: -3, max: 3, noNaN: true })),
    )
    .filter(([m, s]) => m.some((v, j) => Math.abs(v) >= 1e-3 || Math.abs(s[j]) >= 1e-3))
    .map(([mu, logSigma]) => ({ mu, logSigma }));

/** KL is exactly 0 for μ = 0, σ = 1. */
export const klZeroAtPrior = (Z: number): boolean => {
  const [kl] = evalKl(new Float64Array(Z), new Float64Array(Z), Z);
  return kl === 0 || fail(`KL at μ = 0, σ = 1 is ${kl}, expected exactly 0 (Z = ${Z})`);
};

export const klPositive = ({ mu, logSigma }: { mu: Float64Array; logSigma: Float64Array }): boolean => {
  const [kl] = evalKl(mu, logSigma, mu.length);
  return kl > 0 || fail(`KL is ${kl} for μ = ${[...mu]}, log σ = ${[...logSigma]}; expected > 0`);
};

// ---- the whole model ----

/** Seeded data for a model: binary images x (each pixel 1 with probability ½) and N(0,1) noise eps. */
export const randomData = (config: DrawConfig, batch: number, seed: number): { x: Float64Array; eps: Float64Array } => {
  const x = new Float64Array(batch * imageSize(config));
  fillUniform(seedRng(seed), x);
  return { x: x.map((u) => (u < 0.5 ? 1 : 0)), eps: normals(config.T * batch * config.zSize, seed + 1) };
};

/**
 * Symbolic gradients of the loss with respect to every parameter agree with central differences
 * (float64) along a random direction. Parameters are the initial values plus N(0, 0.3²) noise, so
 * no layer sits at a special point (zero biases, γ = 1) that could hide a wrong term.
 */
export const modelGradientAgrees = (
  config: DrawConfig,
  parts: Parts = {},
  seed = 0,
  batch = 2,
  tol = 1e-5,
): GradCheckResult => {
  const model = draw(config, parts);
  const init = model.init(seed);
  const params = Object.fromEntries(
    Object.entries(init).map(([n, v], k) => {
      const noise = normals(v.length, seed + 100 + k);
      return [n, Float64Array.from(v, (x, j) => x + 0.3 * noise[j])];
    }),
  );
  const at = { ...params, ...randomData(config, batch, seed + 7) };
  const r = unwrap(
    gradCheck((xs: Named) => model.loss(xs, { x: xs.x, eps: xs.eps }), model.specs(batch), at, {
      wrt: Object.keys(model.params),
      seed,
    }),
  );
  return r.error < tol
    ? r
    : fail(
        `DRAW gradient check failed: analytic ${r.analytic} vs numeric ${r.numeric} (relative error ${r.error}, config ${JSON.stringify(config)})`,
      );
};

export interface InitLoss {
  /** Mean recon / (C·A·B·ln 2): 1 for a model that predicts ½ everywhere. */
  readonly reconRatio: number;
  /** Mean KL, nats per image. */
  readonly kl: number;
}

/**
 * At initialisation on random binary images the model is near chance: the mean recon is within
 * `tol` of C·A·B·ln 2 and the mean KL within [0, tol·C·A·B·ln 2]. Returns what it measured.
 */
export const initLossNearChance = (model: DrawModel, batch = 2, seed = 0, tol = 0.02): InitLoss => {
  const chance = imageSize(model.config) * Math.LN2;
  const out = unwrap(
    evaluate(unwrap(model.lossGraph(batch)), { ...model.init(seed), ...randomData(model.config, batch, seed + 1) }),
  );
  const avg = (v: Float64Array) => v.reduce((a, b) => a + b, 0) / v.length;
  const r = { reconRatio: avg(out.recon) / chance, kl: avg(out.kl) };
  if (!(Math.abs(r.reconRatio - 1) <= tol && r.kl >= 0 && r.kl <= tol * chance))
    fail(
      `loss at initialisation: recon ${r.reconRatio}·C·A·B·ln 2 and KL ${r.kl} (allowed: within ${tol} of 1, KL ≤ ${tol * chance})`,
    );
  return r;
};
