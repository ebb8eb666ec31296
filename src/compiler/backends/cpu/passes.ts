// Graph passes for the CPU backend only. Backprop through an unrolled RNN leaves each weight's
// gradient as a chain of T products summed, Σ_t X_tᵀ·dG_t: T sgemm calls with K = batch, each
// writing a weight-sized result that the next kernel adds up. As ONE product with the operands
// concatenated along K, [X_1ᵀ … X_Tᵀ]·[dG_1; …; dG_T], it is one long sgemm (K = T·batch) and no
// intermediate sums. The concatenations are views that the packing loops resolve piece by piece
// (render.ts). Not for gpu.js: a shader reading T textures exceeds WebGL's texture units.
import { emit, type Node, type Tensor, type Builder } from '../../../dsl/tensor.ts';
import { sameShape } from '../../../dsl/shape.ts';
import { rebuild, type Graph } from '../../graph.ts';
import { eliminateDeadCode } from '../../passes.ts';

const input = (b: Builder, t: Tensor, k: number): Tensor => {
  const id = b.nodes[t.id].inputs[k];
  return { id, shape: b.nodes[id].shape, builder: b };
};

/** The operands of a concatenation along `axis` (flattened), or the tensor itself. */
const parts = (b: Builder, t: Tensor, axis: number): Tensor[] => {
  const n = b.nodes[t.id];
  return n.op === 'concat' && n.attrs.axis === axis
    ? n.inputs.map((id) => ({ id, shape: b.nodes[id].shape, builder: b }))
    : [t];
};

/**
 * Most products merged into one: each piece of the concatenations gets its own packing loop in the
 * kernel's source, and V8 leaves functions past ~60 KB of bytecode unoptimised (measured: T=64's
 * 64-piece kernels packed at 40 ns an element).
 */
const MAX_TERMS = 16;

/**
 * add(A₁·B₁, A₂·B₂) → [A₁ A₂]·[B₁; B₂] when both products feed only this sum. Along a chain of
 * sums the products gather into groups of up to MAX_TERMS, the groups summed: a chain's result is
 * `closed + open`, the open group taking products until it is full.
 */
export const sumsOfProductsAsOne = (g: Graph): Graph => {
  const uses = new Int32Array(g.nodes.size);
  g.nodes.forEach((n) => n.inputs.forEach((i) => uses[i]++));
  g.outputs.forEach((id) => uses[id]++);
  const chains = new Map<number, { closed?: Tensor; open: Tensor }>(); // by the chain's result (new ids)
  const rule = (n: Node, ins: Tensor[], b: Builder): Tensor | undefined => {
    if (n.op !== 'add' || n.inputs.some((i) => uses[i] !== 1) || n.inputs[0] === n.inputs[1]) return undefined;
    const isProduct = (t: Tensor) => b.nodes[t.id].op === 'matmul' && sameShape(t.shape, n.shape);
    const [x, y] = ins;
    const [chain, next] =
      isProduct(y) && (chains.has(x.id) || isProduct(x)) ? [x, y] : isProduct(x) && chains.has(y.id) ? [y, x] : [];
    if (!chain || !next) return undefined;
    const { closed, open } = chains.get(chain.id) ?? { open: chain };
    const r = n.shape.length;
    const operand = (k: 0 | 1, axis: number) => [open, next].flatMap((m) => parts(b, input(b, m, k), axis));
    const [as, bs] = [operand(0, r - 1), operand(1, r - 2)];
    const merged =
      Math.max(as.length, bs.length) <= MAX_TERMS
        ? {
            closed,
            open: emit(
              'matmul',
              [emit('concat', as, { axis: r - 1 }, b), emit('concat', bs, { axis: r - 2 }, b)],
              {},
              b,
            ),
          }
        : { closed: closed ? emit('add', [closed, open], {}, b) : open, open: next };
    const result = merged.closed ? emit('add', [merged.closed, merged.open], {}, b) : merged.open;
    chains.set(result.id, merged);
    return result;
  };
  return eliminateDeadCode(rebuild(g, rule)); // drops the partial products the rewrite left behind
};
