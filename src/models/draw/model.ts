// The DRAW network (paper §2, eqs. 3–8) unrolled for T steps as a fold over the noise, and the
// quantities built from it: the variational loss, reconstructions and generation from the prior.
// Each is a DSL function of named tensors, so `trace` turns it into a graph and `grad` into its
// training graph. Initial states: canvas, encoder and decoder states all start at zero.
import type { Tensor } from '../../dsl/tensor.ts';
import type { Shape } from '../../dsl/shape.ts';
import { ShapeError, fmt, sameShape } from '../../dsl/shape.ts';
import { add, concat, exp, fill, log, mul, reshape, sliceAxis, sub, sum } from '../../dsl/ops.ts';
import { bceWithLogits, mean, sigmoid, square } from '../../dsl/composites.ts';
import { checkConfig, imageSize, type DrawConfig } from './config.ts';
import { initialise, prefixed, scope, stepGain, type ParamSpecs, type Params } from './params.ts';
import { lstmParams, rnnStep, zeroState, type LstmState } from './lstm.ts';
import { latentParams, sample, type Sample } from './latent.ts';
import { defaultParts, type ReadPart, type Reader, type WritePart, type Writer } from './read-write.ts';
import type { Attention } from './filterbank.ts';

/** Replacements for the config's read and write (see read-write.ts for the contracts). */
export interface Parts {
  readonly read?: ReadPart;
  readonly write?: WritePart;
}

interface Network {
  readonly config: DrawConfig;
  readonly reader: Reader;
  readonly writer: Writer;
}

const network = (config: DrawConfig, parts: Parts): Network => {
  const c = checkConfig(config);
  const d = defaultParts(c);
  return { config: c, reader: (parts.read ?? d.read)(c), writer: (parts.write ?? d.write)(c) };
};

/**
 * Every parameter, by name: `read.*` and `write.*` (whatever the parts declare), `enc.w`, `enc.b`
 * (encoder LSTM over [r, h_dec]), `q.w`, `q.b` (h_enc → μ, log σ), `dec.w`, `dec.b` (decoder LSTM over z).
 */
const specsOf = ({ config: c, reader, writer }: Network): ParamSpecs => ({
  ...prefixed('read.', reader.params),
  ...prefixed('enc.', lstmParams(reader.size + c.decSize, c.encSize)),
  ...prefixed('q.', latentParams(c.encSize, c.zSize, stepGain(c.T))),
  ...prefixed('dec.', lstmParams(c.zSize, c.decSize)),
  ...prefixed('write.', writer.params),
});

export const paramSpecs = (config: DrawConfig, parts: Parts = {}): ParamSpecs => specsOf(network(config, parts));

/**
 * Seeded initial values: Glorot-uniform weights (× 1/√T for `q.w` and write's output layer, see
 * stepGain), zero biases except the LSTM forget gates' 1, each parameter from its own stream of
 * (seed, name). Attention biases start each glimpse centred with γ = 1, its filters on the centres
 * of N equal bands of the image, σ half their spacing (see attentionParams).
 */
export const initParams = (config: DrawConfig, seed: number, parts: Parts = {}): Record<string, Float32Array> =>
  initialise(paramSpecs(config, parts), seed);

/** Data inputs of the loss: images x [batch, C·B·A] in [0, 1] and posterior noise eps [T, batch, Z]. */
export const dataSpecs = (c: DrawConfig, batch: number): { x: Shape; eps: Shape } => ({
  x: [batch, imageSize(c)],
  eps: [c.T, batch, c.zSize],
});

/** Where the batch axis of each data input is (data-parallel steps cut the batch along it). */
export const dataBatchAxes = { x: 0, eps: 1 } as const;

/** Data input of generation: prior samples eps [T, batch, Z]. */
export const priorSpecs = (c: DrawConfig, batch: number): { eps: Shape } => ({ eps: [c.T, batch, c.zSize] });

const expectShape = (what: string, t: Tensor, want: Shape): void => {
  if (!sameShape(t.shape, want)) throw new ShapeError(`DRAW: ${what} has shape ${fmt(t.shape)}, expected ${fmt(want)}`);
};

/** ε_t [batch, Z] of eps [T, batch, Z]. */
const noiseAt = (eps: Tensor, t: number): Tensor => reshape(sliceAxis(eps, 0, t, t + 1), eps.shape.slice(1));

/** Runs `step` T times from `init`, collecting what each step reports. */
const unroll = <S, O>(init: S, T: number, step: (s: S, t: number) => readonly [S, O]): O[] => {
  const out: O[] = [];
  Array.from({ length: T }).reduce<S>((s, _, t) => {
    const [next, o] = step(s, t);
    out.push(o);
    return next;
  }, init);
  return out;
};

interface Step {
  /** c_t, logits [batch, C·B·A]. */
  readonly canvas: Tensor;
  /** KL of step t per image [batch] (0 in generation, which samples the prior). */
  readonly kl?: Tensor;
  /** The posterior sample of step t (inference only): log-density ratios need z, log σ and ε. */
  readonly posterior?: { readonly sample: Sample; readonly noise: Tensor };
  readonly read?: Attention;
  readonly write?: Attention;
}

interface State {
  readonly canvas: Tensor;
  readonly enc: LstmState;
  readonly dec: LstmState;
}

const partParams = (p: Params) => ({
  read: scope(p, 'read.'),
  enc: scope(p, 'enc.'),
  q: scope(p, 'q.'),
  dec: scope(p, 'dec.'),
  write: scope(p, 'write.'),
});

/** The inference network unrolled over x: one record per step. */
const encodeDecode = ({ config: c, reader, writer }: Network, p: Params, x: Tensor, eps: Tensor): Step[] => {
  const batch = x.shape[0];
  expectShape('x', x, dataSpecs(c, batch).x);
  expectShape('eps', eps, dataSpecs(c, batch).eps);
  const P = partParams(p);
  const start: State = {
    canvas: fill([batch, imageSize(c)], 0),
    enc: zeroState(batch, c.encSize),
    dec: zeroState(batch, c.decSize),
  };
  return unroll(start, c.T, (s, t) => {
    const xHat = sub(x, sigmoid(s.canvas)); // x̂_t = x − σ(c_{t−1})
    const r = reader.read(P.read, x, xHat, s.dec.h); // r_t = read(x, x̂_t, h^dec_{t−1})
    const enc = rnnStep(P.enc, concat([r.value, s.dec.h], 1), s.enc); // h^enc_t = RNN^enc(h^enc_{t−1}, [r_t, h^dec_{t−1}])
    const noise = noiseAt(eps, t);
    const q = sample(P.q, enc.h, noise); // z_t ~ Q(Z_t | h^enc_t)
    const dec = rnnStep(P.dec, q.z, s.dec); // h^dec_t = RNN^dec(h^dec_{t−1}, z_t)
    const w = writer.write(P.write, dec.h);
    const canvas = add(s.canvas, w.value); // c_t = c_{t−1} + write(h^dec_t)
    return [
      { canvas, enc, dec },
      { canvas, kl: q.kl, posterior: { sample: q, noise }, read: r.attention, write: w.attention },
    ] as const;
  });
};

/** The generative network alone, z_t = ε_t from the prior (paper §2.3). */
const decodePrior = ({ config: c, writer }: Network, p: Params, eps: Tensor): Step[] => {
  const batch = eps.shape.length === 3 ? eps.shape[1] : 1;
  expectShape('eps', eps, priorSpecs(c, batch).eps);
  const P = partParams(p);
  const start: Omit<State, 'enc'> = { canvas: fill([batch, imageSize(c)], 0), dec: zeroState(batch, c.decSize) };
  return unroll(start, c.T, (s, t) => {
    const dec = rnnStep(P.dec, noiseAt(eps, t), s.dec); // h^dec_t = RNN^dec(h^dec_{t−1}, z_t)
    const w = writer.write(P.write, dec.h);
    const canvas = add(s.canvas, w.value); // c_t = c_{t−1} + write(h^dec_t)
    return [
      { canvas, dec },
      { canvas, write: w.attention },
    ] as const;
  });
};

/** [T, ...shape] from T tensors of one shape. */
export const stack = (ts: readonly Tensor[]): Tensor =>
  concat(
    ts.map((t) => reshape(t, [1, ...t.shape])),
    0,
  );

/** Each attention number over the steps as [T, batch], named `<prefix>.gx` etc.; σ rather than σ² (it is a length). */
export const attentionOutputs = (prefix: string, steps: readonly (Attention | undefined)[]): Record<string, Tensor> => {
  const ats = steps.filter((a): a is Attention => a !== undefined);
  if (ats.length !== steps.length) return {};
  const series = (f: (a: Attention) => Tensor) => stack(ats.map((a) => reshape(f(a), [a.gx.shape[0]])));
  return {
    [`${prefix}.gx`]: series((a) => a.gx),
    [`${prefix}.gy`]: series((a) => a.gy),
    [`${prefix}.delta`]: series((a) => a.delta),
    [`${prefix}.sigma`]: series((a) => exp(mul(log(a.sigma2), 0.5))),
    [`${prefix}.gamma`]: series((a) => a.gamma),
  };
};

export interface DrawData {
  readonly x: Tensor;
  readonly eps: Tensor;
}

export interface DrawLoss {
  /** Mean over the batch of recon + kl, in nats per image: the scalar to minimise. */
  readonly loss: Tensor;
  /** −log D(x | c_T) per image [batch]: Bernoulli cross-entropy of x against σ(c_T), summed over pixels. */
  readonly recon: Tensor;
  /** KL summed over steps and latents, per image [batch]. */
  readonly kl: Tensor;
}

/** L = L^x + L^z (paper eqs. 9–12), with the Bernoulli term taken from the logits c_T (stable). */
const lossOf = (x: Tensor, steps: readonly Step[]): DrawLoss => {
  const recon = sum(bceWithLogits(steps[steps.length - 1].canvas, x), 1);
  const kl = steps.map((s) => s.kl!).reduce((a, b) => add(a, b));
  return { loss: mean(add(recon, kl)), recon, kl };
};

/** The variational loss as a function of named parameters and data. */
export const objective = (config: DrawConfig, parts: Parts = {}) => {
  const net = network(config, parts);
  return (p: Params, { x, eps }: DrawData): DrawLoss => lossOf(x, encodeDecode(net, p, x, eps));
};

/**
 * log p(z_t) − log q(z_t | x) per image [batch], summed over the latents, for z = μ + σ·ε: the
 * Gaussians' 2π terms cancel, leaving Σ_j (½ε_j² − ½z_j² + log σ_j).
 */
const logDensityRatio = ({ sample: q, noise }: NonNullable<Step['posterior']>): Tensor =>
  sum(add(mul(sub(square(noise), square(q.z)), 0.5), q.logSigma), -1);

/**
 * The log importance weight of one posterior sample per image, log p(x, z) − log q(z | x) [batch]
 * = −recon + Σ_t (log p(z_t) − log q(z_t | x)): its mean over samples is the ELBO with a sampled KL,
 * and log-mean-exp over K samples the importance-weighted bound (src/models/draw/importance.ts).
 */
export const logImportanceWeight = (config: DrawConfig, parts: Parts = {}) => {
  const net = network(config, parts);
  return (p: Params, { x, eps }: DrawData): Tensor => {
    const steps = encodeDecode(net, p, x, eps);
    const { recon } = lossOf(x, steps);
    return steps.map((s) => logDensityRatio(s.posterior!)).reduce((a, b) => add(a, b), mul(recon, -1));
  };
};

/**
 * Reconstruction trajectory: `canvas` [T, batch, C·B·A] holds σ(c_t) for t = 1..T, and where the
 * parts attend, `read.gx|gy|delta|sigma|gamma` and `write.*` [T, batch] hold each step's attention
 * (gx, gy 1-based as in the paper). Also the loss terms, so one graph serves reporting.
 */
export const reconstruct = (config: DrawConfig, parts: Parts = {}) => {
  const net = network(config, parts);
  return (p: Params, { x, eps }: DrawData): Record<string, Tensor> => {
    const steps = encodeDecode(net, p, x, eps);
    return {
      ...lossOf(x, steps),
      canvas: stack(steps.map((s) => sigmoid(s.canvas))),
      ...attentionOutputs(
        'read',
        steps.map((s) => s.read),
      ),
      ...attentionOutputs(
        'write',
        steps.map((s) => s.write),
      ),
    };
  };
};

/** Generation from the prior: `canvas` [T, batch, C·B·A] (σ(c_t) per step) and `write.*` [T, batch] as in reconstruct. */
export const generate = (config: DrawConfig, parts: Parts = {}) => {
  const net = network(config, parts);
  return (p: Params, { eps }: { readonly eps: Tensor }): Record<string, Tensor> => {
    const steps = decodePrior(net, p, eps);
    return {
      canvas: stack(steps.map((s) => sigmoid(s.canvas))),
      ...attentionOutputs(
        'write',
        steps.map((s) => s.write),
      ),
    };
  };
};
