// A symbolic tensor is a handle on a node of the graph being traced. Tracing is the one imperative
// step: a builder appends nodes (hash-consed, so equal subexpressions become one node) and is frozen
// into an immutable Graph when the trace ends.
import type { Shape } from './shape.ts';
import { primitiveOf, type PrimName, type AttrsOf } from './primitives.ts';

/** A node of primitive `P`: its attributes are that primitive's. */
export interface NodeOf<P extends PrimName> {
  readonly op: P;
  readonly inputs: readonly number[];
  readonly attrs: Readonly<AttrsOf<P>>;
  readonly shape: Shape;
}

/** A graph node: one variant per primitive, so testing `op` narrows `attrs`. */
export type Node = { [P in PrimName]: NodeOf<P> }[PrimName];

/** Whether `n` reduces over axes (sum, reduceMax): then its attributes name them. */
export const isReduceNode = (n: Node): n is NodeOf<'sum'> | NodeOf<'reduceMax'> =>
  primitiveOf(n.op).kernel.kind === 'reduce';

export interface Builder {
  readonly nodes: Node[];
  readonly keys: Map<string, number>;
}

export interface Tensor<S extends Shape = Shape> {
  readonly id: number;
  readonly shape: S;
  readonly builder: Builder;
}

export const newBuilder = (): Builder => ({ nodes: [], keys: new Map() });

export const nodeKey = (op: string, inputs: readonly number[], attrs: object): string =>
  `${op}(${inputs.join(',')})${JSON.stringify(attrs)}`;

const stack: Builder[] = [];

/** Runs `fn` with `b` as the builder that constant-creating ops (fill, iota) append to. */
export const withBuilder = <R>(b: Builder, fn: () => R): R => {
  stack.push(b);
  try {
    return fn();
  } finally {
    stack.pop();
  }
};

export const activeBuilder = (op: string): Builder => {
  const b = stack[stack.length - 1];
  if (!b) throw new Error(`${op}: no active trace; build tensors inside trace(...) or grad(...)`);
  return b;
};

/** Appends (or finds) a node. The shape rule runs here, so a shape error surfaces at the op that caused it. */
export const emit = <P extends PrimName>(
  op: P,
  inputs: readonly Tensor[],
  attrs: AttrsOf<P>,
  into?: Builder,
): Tensor => {
  const b = inputs.length > 0 ? inputs[0].builder : (into ?? activeBuilder(op));
  for (const t of inputs) {
    if (t.builder !== b) throw new Error(`${op}: operands come from different traces`);
  }
  const ids = inputs.map((t) => t.id);
  const key = nodeKey(op, ids, attrs);
  const found = b.keys.get(key);
  if (found !== undefined) return { id: found, shape: b.nodes[found].shape, builder: b };
  const shape = primitiveOf(op).shape(
    inputs.map((t) => t.shape),
    attrs,
  );
  const id = b.nodes.length;
  b.nodes.push(
    Object.freeze({
      op,
      inputs: Object.freeze(ids),
      attrs: Object.freeze({ ...attrs }),
      shape: Object.freeze([...shape]),
    } as NodeOf<P> as Node),
  );
  b.keys.set(key, id);
  return { id, shape, builder: b };
};
