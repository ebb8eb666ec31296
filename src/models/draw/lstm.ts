// The LSTM cell that both the encoder and the decoder run (the paper uses Graves 2013's LSTM
// without peepholes). All four gates come from ONE matmul of the concatenation [input, h] with a
// [in+H, 4H] weight, then slices: one large contraction that the compiler fuses better than four
// small ones. Gate order along the 4H axis: input, forget, output, candidate.
import type { Tensor } from '../../dsl/tensor.ts';
import { add, concat, fill, mul, sliceAxis, tanh } from '../../dsl/ops.ts';
import { sigmoid } from '../../dsl/composites.ts';
import { affine, bias, weight, type ParamSpecs, type Params } from './params.ts';

export interface LstmState {
  /** Output (hidden state) [batch, H]. */
  readonly h: Tensor;
  /** Cell [batch, H]. */
  readonly c: Tensor;
}

/** `w` [in+H, 4H] (Glorot) and `b` [4H] (forget gate 1, others 0). */
export const lstmParams = (inSize: number, H: number): ParamSpecs => ({
  w: weight(inSize + H, 4 * H),
  b: bias(4 * H, [0, 1, 0, 0]),
});

/** The state before the first step: zeros (as in the paper; the canvas starts at zero too). */
export const zeroState = (batch: number, H: number): LstmState => ({ h: fill([batch, H], 0), c: fill([batch, H], 0) });

/** One step: (h, c) ← LSTM(input, (h, c)). `input` is [batch, in]. */
export const rnnStep = (p: Params, input: Tensor, { h, c }: LstmState): LstmState => {
  const H = h.shape[1];
  const gates = affine(p, concat([input, h], 1));
  const gate = (k: number) => sliceAxis(gates, 1, k * H, (k + 1) * H);
  const [i, f, o, g] = [sigmoid(gate(0)), sigmoid(gate(1)), sigmoid(gate(2)), tanh(gate(3))];
  const cNext = add(mul(f, c), mul(i, g));
  return { h: mul(o, tanh(cNext)), c: cNext };
};
