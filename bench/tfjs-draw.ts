// The benchmark's baseline: the same DRAW training step (src/models/draw, attention on) written
// plainly with TensorFlow.js ops on its WebAssembly backend, differentiated by tfjs's tape
// (tf.variableGrads), clipped to a global norm and updated by tf.train.adam. It starts from our
// parameters (same names and shapes) and takes our batch (x, eps), so both sides compute the same
// function; test/tfjs-baseline.test.ts checks the loss, the gradients and three steps against ours.
import { register } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import type { DrawConfig } from '../src/models/draw/config.ts';
import { dataSpecs } from '../src/models/draw/model.ts';
import type { Shape } from '../src/dsl/shape.ts';

/** Which tfjs WebAssembly build runs: the backend picks its binary from these two flags. */
export interface WasmVariant {
  /** tfjs-core's version. */
  readonly tfjs: string;
  readonly binary: string;
  readonly simd: boolean;
  readonly threads: number;
}

/**
 * Starts tfjs's WASM backend on one thread. The .wasm binaries ship inside the npm package and
 * Node reads them from node_modules: nothing is downloaded. Node gets the single-threaded builds
 * (the package turns off its threaded build under Node), so one thread is what runs either way.
 */
export const initTfjsWasm = (): Promise<WasmVariant> => (started ??= start());
let started: Promise<WasmVariant> | undefined;

const start = async (): Promise<WasmVariant> => {
  // tfjs-core's Node build has no gradient functions: register them (into tfjs's global registry,
  // which every copy of tfjs-core shares) from its ES modules, resolved by the hook
  register('./tfjs-core-resolve.mjs', import.meta.url);
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  setThreadsCount(1);
  if (!(await tf.setBackend('wasm'))) throw new Error('TensorFlow.js: the wasm backend failed to initialise');
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  const threaded = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
  const binary = `tfjs-backend-wasm${simd && threaded ? '-threaded-simd' : simd ? '-simd' : ''}.wasm`;
  return { tfjs: tf.version_core, binary, simd, threads: getThreadsCount() };
};

type Vars = Readonly<Record<string, tf.Tensor>>;

/**
 * How the baseline multiplies. 'autodiff': tf.matMul with its transpose flags, differentiated by tfjs
 * (its gradients are products with transpose flags too). 'explicit-transposes': every product takes
 * operands transposed by tf.transpose beforehand, and its gradient (tf.customGrad) does the same. The
 * WASM backend runs a flagged product 8–14× slower than the plain one (bench/NOTES.md), so the second
 * is what a TF.js user who profiled their step would write: the baseline we compare against.
 */
export type Products = 'autodiff' | 'explicit-transposes';

type MatMul = (a: tf.Tensor, b: tf.Tensor, transposeA?: boolean, transposeB?: boolean) => tf.Tensor;

/** Swaps the last two axes (rank 2 or 3). */
const swapLast = (x: tf.Tensor): tf.Tensor => tf.transpose(x, x.rank === 2 ? [1, 0] : [0, 2, 1]);

// tfjs hands a custom gradient's inputs and its save function as one untyped list
const unflaggedProduct = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy, [sa, sb]) => [
      tf.matMul(dy as tf.Tensor2D, swapLast(sb) as tf.Tensor2D),
      tf.matMul(swapLast(sa) as tf.Tensor2D, dy as tf.Tensor2D),
    ],
  };
}) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

const matMulFor = (products: Products): MatMul =>
  products === 'autodiff'
    ? (a, b, ta = false, tb = false) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, ta, tb)
    : (a, b, ta = false, tb = false) => unflaggedProduct(ta ? swapLast(a) : a, tb ? swapLast(b) : b);

/** Our parameter names under a prefix, with the prefix removed (as params.ts `scope`). */
const scope = (p: Vars, prefix: string): Vars =>
  Object.fromEntries(
    Object.entries(p)
      .filter(([n]) => n.startsWith(prefix))
      .map(([n, t]) => [n.slice(prefix.length), t]),
  );

const affine = (mm: MatMul, p: Vars, x: tf.Tensor): tf.Tensor => tf.add(mm(x, p.w), p.b);

/** LSTM step as lstm.ts: one product of [input, h] with w [in+H, 4H]; gates input, forget, output, candidate. */
const lstm = (mm: MatMul, p: Vars, input: tf.Tensor, s: { h: tf.Tensor; c: tf.Tensor }) => {
  const [i, f, o, g] = tf.split(affine(mm, p, tf.concat([input, s.h], 1)), 4, 1);
  const c = tf.add(tf.mul(tf.sigmoid(f), s.c), tf.mul(tf.sigmoid(i), tf.tanh(g)));
  return { h: tf.mul(tf.sigmoid(o), tf.tanh(c)), c };
};

const LOG_FLOOR = -3.4028234663852886e38; // filterbank.ts: float32's lowest, so a row of −∞ is never 0/0

/** filterbank.ts: row-normalised Gaussian filters [batch, N, size] centred at μ = (g−1) + (i − N/2 + 0.5)·δ (0-based). */
const axisFilters = (g: tf.Tensor, sigma2: tf.Tensor, delta: tf.Tensor, N: number, size: number): tf.Tensor3D => {
  const perImage = (t: tf.Tensor) => tf.reshape(t, [-1, 1, 1]);
  const i0 = tf.reshape(tf.range(0, N), [1, N, 1]);
  const a0 = tf.reshape(tf.range(0, size), [1, 1, size]);
  const mu = tf.add(tf.sub(perImage(g), 1), tf.mul(tf.sub(i0, N / 2 - 0.5), perImage(delta)));
  const d = tf.sub(a0, mu);
  return tf.softmax(tf.maximum(tf.div(tf.neg(tf.square(d)), tf.mul(perImage(sigma2), 2)), LOG_FLOOR)) as tf.Tensor3D;
};

/** attend + filterbank: h_dec → (g̃x, g̃y, log σ², log δ̃, log γ) → Fx [batch, N, A], Fy [batch, N, B], γ [batch, 1, 1]. */
const attention = (mm: MatMul, p: Vars, hDec: tf.Tensor, N: number, c: DrawConfig) => {
  const [gx, gy, logSigma2, logDelta, logGamma] = tf.split(affine(mm, p, hDec), 5, 1);
  const sigma2 = tf.exp(logSigma2);
  const delta = tf.mul(tf.exp(logDelta), (Math.max(c.A, c.B) - 1) / Math.max(N - 1, 1));
  return {
    Fx: axisFilters(tf.mul(tf.add(gx, 1), (c.A + 1) / 2), sigma2, delta, N, c.A),
    Fy: axisFilters(tf.mul(tf.add(gy, 1), (c.B + 1) / 2), sigma2, delta, N, c.B),
    gamma: tf.reshape(tf.exp(logGamma), [-1, 1, 1]),
  };
};

/** read-write.ts attentiveRead: γ·[Fy x Fxᵀ, Fy x̂ Fxᵀ], flattened, x's patch first. */
const read = (mm: MatMul, p: Vars, x: tf.Tensor, xHat: tf.Tensor, hDec: tf.Tensor, c: DrawConfig): tf.Tensor => {
  const { Fx, Fy, gamma } = attention(mm, p, hDec, c.readN, c);
  const patch = (img: tf.Tensor) =>
    tf.reshape(tf.mul(mm(mm(Fy, tf.reshape(img, [-1, c.B, c.A])), Fx, false, true), gamma), [-1, c.readN * c.readN]);
  return tf.concat([patch(x), patch(xHat)], 1);
};

/** read-write.ts attentiveWrite: (1/γ)·Fyᵀ w Fx with w = W h_dec + b an N×N patch. */
const write = (mm: MatMul, p: Vars, hDec: tf.Tensor, c: DrawConfig): tf.Tensor => {
  const N = c.writeN;
  const { Fx, Fy, gamma } = attention(mm, scope(p, 'attn.'), hDec, N, c);
  const w = tf.reshape(affine(mm, scope(p, 'patch.'), hDec), [-1, N, N]);
  return tf.reshape(tf.div(mm(mm(Fy, w, true, false), Fx), gamma), [-1, c.A * c.B]);
};

/** model.ts lossOf ∘ encodeDecode: mean over the batch of Σ_pixels BCE(c_T, x) + Σ_t KL_t. */
const drawLoss = (mm: MatMul, p: Vars, c: DrawConfig, x: tf.Tensor, eps: tf.Tensor): tf.Scalar => {
  const batch = x.shape[0];
  const zeros = (H: number) => ({ h: tf.zeros([batch, H]), c: tf.zeros([batch, H]) });
  const [pRead, pEnc, pQ, pDec, pWrite] = ['read.attn.', 'enc.', 'q.', 'dec.', 'write.'].map((s) => scope(p, s));
  let canvas: tf.Tensor = tf.zeros([batch, c.A * c.B]);
  let enc = zeros(c.encSize);
  let dec = zeros(c.decSize);
  let kl: tf.Tensor = tf.zeros([batch]);
  tf.unstack(eps).forEach((epsT) => {
    const xHat = tf.sub(x, tf.sigmoid(canvas));
    const r = read(mm, pRead, x, xHat, dec.h, c);
    enc = lstm(mm, pEnc, tf.concat([r, dec.h], 1), enc);
    const [mu, logSigma] = tf.split(affine(mm, pQ, enc.h), 2, 1);
    // latent.ts klStdNormal: ½ Σ_j (μ² + σ² − log σ²) − ½Z
    kl = tf.add(
      kl,
      tf.sub(
        tf.mul(tf.sum(tf.add(tf.add(tf.square(mu), tf.exp(tf.mul(logSigma, 2))), tf.mul(logSigma, -2)), -1), 0.5),
        0.5 * c.zSize,
      ),
    );
    dec = lstm(mm, pDec, tf.add(mu, tf.mul(tf.exp(logSigma), epsT)), dec);
    canvas = tf.add(canvas, write(mm, pWrite, dec.h, c));
  });
  // Bernoulli cross-entropy from the logits: softplus(c) − x·c (composites.ts bceWithLogits)
  const recon = tf.sum(tf.sub(tf.softplus(canvas), tf.mul(x, canvas)), 1);
  return tf.mean(tf.add(recon, kl));
};

export interface TfjsDrawOptions {
  readonly lr: number;
  /** Global-norm clipping threshold. */
  readonly clip: number;
  readonly products: Products;
}

export interface TfjsDraw {
  /** The loss and the gradient of every parameter (by our names) at the current parameters; no update. */
  lossAndGrads(x: Float32Array, eps: Float32Array): { loss: number; grads: Record<string, Float32Array> };
  /** One training step on (x, eps): forward, gradient, clipping, Adam. The loss and gradient norm before it. */
  step(x: Float32Array, eps: Float32Array): { loss: number; gradNorm: number };
  /** The current parameters by our names. */
  params(): Record<string, Float32Array>;
  dispose(): void;
}

/**
 * DRAW with read and write attention on one-channel images (the benchmark's model), starting from
 * `init` (draw(config).init(seed): names and shapes as `shapes`). Data as our step takes it: x
 * [batch, B·A], eps [T, batch, Z]. Call initTfjsWasm first (or any tfjs backend: the model is plain tfjs).
 */
export const tfjsDraw = (
  config: DrawConfig,
  init: Readonly<Record<string, Float32Array>>,
  shapes: Readonly<Record<string, Shape>>,
  batch: number,
  opts: TfjsDrawOptions,
): TfjsDraw => {
  if (config.channels !== 1 || !config.readAttention || !config.writeAttention)
    throw new Error('tfjsDraw: the baseline covers one channel with read and write attention');
  const names = Object.keys(shapes);
  // tfjs keys variables by a global name: ours are kept in this map, tfjs's are generated
  const vars = Object.fromEntries(
    names.map((n) => [n, tf.tidy(() => tf.variable(tf.tensor(init[n], [...shapes[n]])))]),
  );
  const ours = new Map(names.map((n) => [vars[n].name, n]));
  const varList = names.map((n) => vars[n]);
  const mm = matMulFor(opts.products);
  const optimizer = tf.train.adam(opts.lr, 0.9, 0.999, 1e-8);
  const data = dataSpecs(config, batch);
  const feed = (x: Float32Array, eps: Float32Array) => ({
    x: tf.tensor(x, [...data.x]),
    eps: tf.tensor(eps, [...data.eps]),
  });
  const gradients = (x: Float32Array, eps: Float32Array) => {
    const d = feed(x, eps);
    return tf.variableGrads(() => drawLoss(mm, vars, config, d.x, d.eps), varList);
  };
  return {
    lossAndGrads: (x, eps) => {
      const { value, grads } = tf.tidy(() => gradients(x, eps));
      const out = {
        loss: value.dataSync()[0],
        grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [ours.get(k)!, g.dataSync() as Float32Array])),
      };
      tf.dispose([value, grads]);
      return out;
    },
    step: (x, eps) => {
      const [loss, norm] = tf.tidy(() => {
        const { value, grads } = gradients(x, eps);
        const norm = tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))));
        // min(1, clip/‖g‖): clip.ts clipScale
        const scale = tf.minimum(1, tf.div(opts.clip, norm));
        optimizer.applyGradients(Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.mul(g, scale)])));
        return [value, norm];
      });
      const out = { loss: loss.dataSync()[0], gradNorm: norm.dataSync()[0] };
      tf.dispose([loss, norm]);
      return out;
    },
    params: () => Object.fromEntries(names.map((n) => [n, vars[n].dataSync() as Float32Array])),
    dispose: () => {
      optimizer.dispose();
      tf.dispose(varList);
    },
  };
};
