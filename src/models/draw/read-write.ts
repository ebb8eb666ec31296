// read and write as swappable parts. A part is built from the config and declares its own
// parameters (the model stores them under 'read.' / 'write.'), so a user-defined read or write
// (another filter shape, another glimpse) trains, differentiates and compiles like the paper's.
import type { Tensor } from '../../dsl/tensor.ts';
import { concat, reshape } from '../../dsl/ops.ts';
import type { DrawConfig } from './config.ts';
import { imageSize } from './config.ts';
import { affine, dense, prefixed, scope, stepGain, type ParamSpecs, type Params } from './params.ts';
import {
  attend,
  attentionParams,
  filterRead,
  filterWrite,
  filterbank,
  gaussian,
  type Attention,
  type FilterShape,
} from './filterbank.ts';

/** What read or write produced, and the attention it used (absent for a non-attentive part). */
export interface Glimpse {
  readonly value: Tensor;
  readonly attention?: Attention;
}

export interface Reader {
  /** Values per image that read hands the encoder. */
  readonly size: number;
  readonly params: ParamSpecs;
  /** x, x̂ [batch, C·B·A] and h_dec_{t−1} [batch, decSize] → r_t [batch, size]. */
  readonly read: (p: Params, x: Tensor, xHat: Tensor, hDec: Tensor) => Glimpse;
}

export interface Writer {
  /** Its parameters; the layer producing the canvas update should start small (stepGain). */
  readonly params: ParamSpecs;
  /** h_dec_t [batch, decSize] → the canvas update [batch, C·B·A]. */
  readonly write: (p: Params, hDec: Tensor) => Glimpse;
}

export type ReadPart = (config: DrawConfig) => Reader;
export type WritePart = (config: DrawConfig) => Writer;

export interface AttentionOptions {
  /** The filter's shape (default: the paper's Gaussian). */
  readonly shape?: FilterShape;
}

/** [batch, C·B·A] as [batch, C, B, A] and back. */
const asImages = (x: Tensor, c: DrawConfig): Tensor => reshape(x, [x.shape[0], c.channels, c.B, c.A]);
const flat = (t: Tensor): Tensor => reshape(t, [t.shape[0], t.shape.slice(1).reduce((a, b) => a * b, 1)]);

/** read(x, x̂, h_dec) = [x, x̂]: the whole image and the error image (paper eq. 17). */
export const plainRead: ReadPart = (c) => ({
  size: 2 * imageSize(c),
  params: {},
  read: (_p, x, xHat) => ({ value: concat([x, xHat], 1) }),
});

/**
 * read(x, x̂, h_dec) = γ·[Fy x Fxᵀ, Fy x̂ Fxᵀ] (paper eq. 27): an N×N patch per channel of each
 * image, 2·C·N² values. x and x̂ are stacked along the channel axis so both go through one pair
 * of matmuls. Parameters: the attention layer `attn.w`, `attn.b`.
 */
export const attentiveRead =
  (opts: AttentionOptions = {}): ReadPart =>
  (c) => ({
    size: 2 * c.channels * c.readN * c.readN,
    params: prefixed('attn.', attentionParams(c.decSize, c.readN, c.A, c.B, 'read')),
    read: (p, x, xHat, hDec) => {
      const at = attend(scope(p, 'attn.'), hDec, c.readN, c.A, c.B);
      const F = filterbank(at.gx, at.gy, at.sigma2, at.delta, c.readN, c.A, c.B, opts.shape ?? gaussian);
      return { value: flat(filterRead(F, at.gamma, concat([asImages(x, c), asImages(xHat, c)], 1))), attention: at };
    },
  });

/** write(h_dec) = W h_dec + b onto the whole canvas (paper eq. 18). Parameters `w`, `b` (w: Glorot × 1/√T). */
export const plainWrite: WritePart = (c) => ({
  params: dense(c.decSize, imageSize(c), stepGain(c.T)),
  write: (p, hDec) => ({ value: affine(p, hDec) }),
});

/**
 * write(h_dec) = (1/γ̂)·F̂yᵀ w F̂x with w = W h_dec + b an N×N patch per channel (paper eqs. 28–29).
 * Write has its own attention layer, `attn.w`, `attn.b`; the patch layer is `patch.w`, `patch.b`
 * (patch.w: Glorot × 1/√T, as the canvas sums T patches).
 */
export const attentiveWrite =
  (opts: AttentionOptions = {}): WritePart =>
  (c) => ({
    params: {
      ...prefixed('attn.', attentionParams(c.decSize, c.writeN, c.A, c.B, 'write')),
      ...prefixed('patch.', dense(c.decSize, c.channels * c.writeN * c.writeN, stepGain(c.T))),
    },
    write: (p, hDec) => {
      const N = c.writeN;
      const at = attend(scope(p, 'attn.'), hDec, N, c.A, c.B);
      const F = filterbank(at.gx, at.gy, at.sigma2, at.delta, N, c.A, c.B, opts.shape ?? gaussian);
      const w = reshape(affine(scope(p, 'patch.'), hDec), [hDec.shape[0], c.channels, N, N]);
      return { value: flat(filterWrite(F, at.gamma, w)), attention: at };
    },
  });

/** The parts a config asks for: attentive where its flags say so, Gaussian filters. */
export const defaultParts = (c: DrawConfig): { read: ReadPart; write: WritePart } => ({
  read: c.readAttention ? attentiveRead() : plainRead,
  write: c.writeAttention ? attentiveWrite() : plainWrite,
});
