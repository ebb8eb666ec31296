import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { execFileSync } from 'node:child_process';
import {
  trace,
  grad,
  evaluate,
  verify,
  simplify,
  inline,
  unwrap,
  gradName,
  add,
  mul,
  exp,
  matmul,
  sum,
  reshape,
  sigmoid,
  softplus,
  logsumexp,
  softmax,
  tanh,
  concat,
  sliceAxis,
  fill,
  type Tensor,
} from '../src/index.ts';
import { gradCheck, properties } from '../src/testing/index.ts';

const leftMessage = (e: E.Either<Error, unknown>): string => (E.isLeft(e) ? e.left.message : 'no error');

describe('trace', () => {
  it('hash-conses equal subexpressions: f(x) + f(x) is one subgraph', () => {
    const f = (x: Tensor) => exp(tanh(mul(x, 3)));
    const once = unwrap(trace(({ x }) => f(x), { x: [4] }));
    const twice = unwrap(trace(({ x }) => add(f(x), f(x)), { x: [4] }));
    expect(twice.nodes.size).toBe(once.nodes.size + 1);
  });

  it('names the op and both shapes on a mismatch', () => {
    expect(leftMessage(trace(({ a, b }) => matmul(a, b), { a: [100, 784], b: [256, 10] }))).toBe(
      'matmul: inner dimensions differ, got [100,784] and [256,10]',
    );
    expect(leftMessage(trace(({ a, b }) => add(a, b), { a: [2, 3], b: [4] }))).toBe(
      'add: cannot broadcast [2,3] with [4]',
    );
    expect(leftMessage(trace(({ a }) => reshape(a, [5]), { a: [2, 3] }))).toBe(
      'reshape: cannot reshape [2,3] (6 values) to [5] (5 values)',
    );
    expect(leftMessage(trace(({ a, b }) => concat([a, b], 0), { a: [2, 3], b: [2, 4] }))).toBe(
      'concat: shapes differ off axis 0, got [2,3] and [2,4]',
    );
    expect(leftMessage(trace(({ a }) => sum(a, 2), { a: [2, 3] }))).toBe('sum: axis 2 out of range for rank 2');
  });

  it('rejects bad input shapes and non-tensor outputs', () => {
    expect(leftMessage(trace(({ a }) => a, { a: [2, 0] }))).toBe(
      "input 'a': dimensions must be positive integers, got [2,0]",
    );
    expect(leftMessage(trace(() => ({ y: 3 as unknown as Tensor }), {}))).toBe("output 'y' is number, not a tensor");
    expect(leftMessage(trace(() => 42 as unknown as Tensor, {}))).toBe(
      'the traced function returned number, not a tensor or a record of tensors',
    );
    expect(leftMessage(trace(() => ({}), {}))).toBe(
      'the traced function returned an empty record: a graph needs at least one output',
    );
    let other: Tensor | undefined;
    unwrap(trace(({ x }) => (other = exp(x)), { x: [2] }));
    expect(leftMessage(trace(() => ({ y: other! }), {}))).toBe("output 'y' is a tensor of another trace");
  });

  it('keeps an error thrown inside the traced function as the cause, with its class and stack', () => {
    const r = trace(
      ({ x }) => {
        const broken = undefined as unknown as { shape: number[] };
        return mul(x, broken.shape[0]);
      },
      { x: [2] },
    );
    if (E.isRight(r)) throw new Error('expected a Left');
    expect(r.left.name).toBe('TraceError');
    expect(r.left.message).toMatch(/^Cannot read properties of undefined/);
    expect(r.left.cause).toBeInstanceOf(TypeError);
    expect((r.left.cause as Error).stack).toContain('core.test.ts');
  });
});

describe('verify', () => {
  const g = unwrap(trace(({ x, w }) => sum(matmul(x, w)), { x: [2, 3], w: [3, 4] }));
  it('accepts a traced graph', () => expect(E.isRight(verify(g))).toBe(true));
  it('catches a node whose recorded shape is wrong', () => {
    const id = g.outputs.get('out')! - 1;
    const bad = { ...g, nodes: g.nodes.set(id, { ...g.nodes.get(id)!, shape: [2, 5] }) };
    expect(leftMessage(verify(bad))).toBe(`node ${id} (matmul): recorded shape [2,5] but its rule gives [2,4]`);
  });
  it('catches an input that points forward', () => {
    const last = g.nodes.size - 1;
    const bad = { ...g, nodes: g.nodes.set(2, { ...g.nodes.get(2)!, inputs: [last, 1] }) };
    expect(leftMessage(verify(bad))).toMatch(/^node 2 \(\w+\): input \d+ is not an earlier node$/);
  });
});

describe('evaluate', () => {
  const g = unwrap(trace(({ x }) => sum(x), { x: [2, 2] }));
  it('reports missing, mis-sized and unknown feeds', () => {
    expect(leftMessage(evaluate(g, {}))).toBe("missing input 'x' of shape [2,2]");
    expect(leftMessage(evaluate(g, { x: [1, 2, 3] }))).toBe("input 'x': expected 4 values for shape [2,2], got 3");
    expect(leftMessage(evaluate(g, { x: [1, 2, 3, 4], y: [1] }))).toBe("unknown input 'y'");
  });
});

describe('grad', () => {
  it('refuses non-scalar outputs and unknown inputs', () => {
    const g = unwrap(trace(({ x }) => exp(x), { x: [3] }));
    expect(leftMessage(grad(g, 'out', ['x']))).toBe("grad: output 'out' must be a scalar, got shape [3]");
    const s = unwrap(trace(({ x }) => sum(x), { x: [3] }));
    expect(leftMessage(grad(s, 'out', ['y']))).toBe("grad: no input named 'y'");
  });

  it('accumulates fan-out: d/dx sum(x·x + x) = 2x + 1', () => {
    const g = unwrap(grad(unwrap(trace(({ x }) => sum(add(mul(x, x), x)), { x: [3] })), 'out', ['x']));
    expect([...unwrap(evaluate(g, { x: [1, -2, 0.5] }))[gradName('x')]]).toEqual([3, -3, 2]);
  });

  it('gives zeros for an input the output does not depend on', () => {
    const g = unwrap(grad(unwrap(trace(({ x }) => sum(x), { x: [2], y: [3] })), 'out', ['y']));
    expect([...unwrap(evaluate(g, { x: [1, 2], y: [1, 2, 3] }))[gradName('y')]]).toEqual([0, 0, 0]);
  });

  // grad of grad: the gradient graph is inlined as a function and differentiated again.
  const composites: [string, (x: Tensor) => Tensor][] = [
    ['sigmoid', sigmoid],
    ['softplus', softplus],
    ['logsumexp', (x) => logsumexp(reshape(x, [2, 3]), 1)],
    ['softmax', (x) => mul(softmax(reshape(x, [3, 2]), 0), reshape(x, [3, 2]))],
    ['slice+concat', (x) => mul(concat([sliceAxis(x, 0, 1, 4), x], 0), fill([9], 0.5))],
  ];
  it.each(composites)('grad of grad agrees with finite differences: %s', (_name, f) => {
    const first = unwrap(grad(unwrap(trace(({ x }) => sum(mul(f(x), f(x))), { x: [6] })), 'out', ['x']));
    fc.assert(
      fc.property(properties.arbValues([6], -2, 2), (x) => {
        const r = unwrap(gradCheck(({ x: t }) => inline(first, { x: t })[gradName('x')], { x: [6] }, { x }));
        return r.error < 1e-6;
      }),
      { numRuns: 15, seed: 3 },
    );
  });
});

describe('passes', () => {
  it('simplify folds constants and drops identities without changing values', () => {
    const g = unwrap(
      grad(unwrap(trace(({ x }) => sum(mul(add(x, mul(fill([3], 2), 0)), 1)), { x: [3] })), 'out', ['x']),
    );
    const s = simplify(g);
    expect(s.nodes.size).toBeLessThan(g.nodes.size);
    expect(E.isRight(verify(s))).toBe(true);
    const feeds = { x: [1, 2, 3] };
    expect(unwrap(evaluate(s, feeds))).toEqual(unwrap(evaluate(g, feeds)));
    expect(s.nodes.filter((n) => n.op === 'mul').size).toBe(0);
  });
});

describe('README example', () => {
  it('runs as printed', () => {
    const out = execFileSync('npx', ['tsx', 'examples/quickstart.ts'], { encoding: 'utf8' });
    expect(out).toContain('f = 1.414181');
  });
});
