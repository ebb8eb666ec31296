// Random graphs for testing backends against the reference interpreter. A graph is grown from a
// seed by drawing ops from each class of the primitive table (elementwise, broadcast, reduction,
// movement, contraction), reusing earlier values so the DAG fans out.
import fc from 'fast-check';
import { seedRng, fillUniform, fillNormal, type RngState } from '../dsl/rng.ts';
import { size, sameShape, broadcastShapes, type Shape } from '../dsl/shape.ts';
import * as op from '../dsl/ops.ts';
import { sigmoid } from '../dsl/composites.ts';
import type { Tensor } from '../dsl/tensor.ts';
import { trace } from '../compiler/trace.ts';
import { grad } from '../compiler/grad.ts';
import type { Graph } from '../compiler/graph.ts';
import { unwrap } from '../util.ts';

export interface RandomGraph {
  readonly graph: Graph;
  readonly feeds: Record<string, Float64Array>;
  readonly description: string;
}

const chooser = (seed: number) => {
  let s: RngState = seedRng(seed);
  const u = new Float64Array(1);
  const next = () => ((s = fillUniform(s, u)), u[0]);
  return {
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)],
  };
};

const factorPair = (n: number, r: ReturnType<typeof chooser>): number[] => {
  const ds = [...Array(n).keys()].map((i) => i + 1).filter((d) => n % d === 0);
  const d = r.pick(ds);
  return d === 1 || d === n ? [n] : [d, n / d];
};

/** Builds a random function of inputs a [p,q] and b [q] from a seed; `log` records the ops chosen. */
const grow =
  (seed: number, steps: number, log: string[]) =>
  ({ a, b }: { a: Tensor; b: Tensor }): Record<string, Tensor> => {
    const r = chooser(seed);
    const pool: Tensor[] = [a, b];
    const any = () => pool[pool.length - 1 - r.int(Math.min(pool.length, 4))];
    const moves: Record<string, (x: Tensor) => Tensor> = {
      sigmoid,
      tanh: op.tanh,
      expTanh: (x) => op.exp(op.tanh(x)),
      logSq: (x) => op.log(op.add(op.mul(x, x), 1)),
      recipSq: (x) => op.recip(op.add(op.mul(x, x), 0.5)),
      addOther: (x) => op.add(x, fit(any(), x.shape)),
      mulOther: (x) => op.mul(x, fit(any(), x.shape)),
      maxOther: (x) => op.maximum(x, fit(any(), x.shape)),
      whereLess: (x) => {
        const y = fit(any(), x.shape);
        return op.where(op.less(x, y), op.mul(x, 2), y);
      },
      sum: (x) => (x.shape.length ? op.sum(x, r.int(x.shape.length)) : x),
      max: (x) => (x.shape.length ? op.max(x, r.int(x.shape.length), r.int(2) === 1) : x),
      reshape: (x) => op.reshape(x, factorPair(size(x.shape), r)),
      permute: (x) => (x.shape.length >= 2 ? op.transpose(x) : x),
      slice: (x) => (x.shape.length && x.shape[0] > 1 ? op.sliceAxis(x, 0, r.int(x.shape[0] - 1), x.shape[0]) : x),
      concat: (x) => (x.shape.length ? op.concat([x, op.mul(x, 0.5)], r.int(x.shape.length)) : x),
      broadcast: (x) => op.broadcastTo(x, [2, ...x.shape]),
      matmul: (x) => {
        const m = op.reshape(
          x,
          x.shape.length >= 2 ? [size(x.shape.slice(0, -1)), x.shape[x.shape.length - 1]] : [1, size(x.shape)],
        );
        return r.int(2) ? op.matmul(m, op.transpose(m)) : op.matmul(op.transpose(m), m);
      },
      materialize: op.materialize,
    };
    // A value that does not broadcast to `shape` is brought there by a full sum (a scalar broadcasts anywhere).
    const fit = (y: Tensor, shape: Shape): Tensor => {
      try {
        if (sameShape(broadcastShapes('fit', y.shape, shape), shape)) return y;
      } catch {
        // not broadcastable: fall through
      }
      return op.mul(op.sum(y), 0.1);
    };
    for (let i = 0; i < steps; i++) {
      const name = r.pick(Object.keys(moves));
      const x = any();
      const y = moves[name](x);
      log.push(`${name}[${x.shape}]→[${y.shape}]`);
      if (size(y.shape) <= 4096) pool.push(y);
    }
    return { y0: pool[pool.length - 1], y1: pool[pool.length - 1 - r.int(Math.min(pool.length, 3))] };
  };

/** A random graph and feeds, forward only or with its gradient (`withGrad`). */
export const randomGraph = (seed: number, steps: number, withGrad: boolean): RandomGraph => {
  const r = chooser(seed + 1);
  const p = 1 + r.int(4);
  const q = 1 + r.int(5);
  const log: string[] = [];
  const f = grow(seed, steps, log);
  const specs = { a: [p, q], b: [q] } as const;
  const fwd = unwrap(trace(f, specs));
  const graph = withGrad
    ? unwrap(
        grad(
          unwrap(
            trace((xs) => {
              const o = f(xs);
              return { ...o, loss: op.add(op.sum(op.tanh(o.y0)), op.sum(op.mul(o.y1, 0.3))) };
            }, specs),
          ),
          'loss',
          ['a', 'b'],
        ),
      )
    : fwd;
  let s = seedRng(seed + 2);
  const feeds = Object.fromEntries(
    Object.entries(specs).map(([k, sh]) => {
      const v = new Float64Array(size(sh));
      s = fillNormal(s, v);
      return [k, v];
    }),
  );
  return { graph, feeds, description: log.join(' ') };
};

export const arbRandomGraph = (withGrad: boolean): fc.Arbitrary<RandomGraph> =>
  fc
    .tuple(fc.integer({ min: 0, max: 1 << 30 }), fc.integer({ min: 1, max: 10 }))
    .map(([seed, steps]) => randomGraph(seed, steps, withGrad));
