// The graph: plain immutable data. Nodes are in topological order (an input's id is always smaller
// than its consumer's), named inputs and outputs point at nodes. Passes are functions Graph → Graph.
import { List, OrderedMap } from 'immutable';
import * as E from 'fp-ts/lib/Either.js';
import type { Node, Builder, Tensor } from '../dsl/tensor.ts';
import { newBuilder, emit, withBuilder, activeBuilder } from '../dsl/tensor.ts';
import { primitiveOf } from '../dsl/primitives.ts';
import { fmt, sameShape, type Shape } from '../dsl/shape.ts';

export interface Graph {
  readonly nodes: List<Node>;
  readonly inputs: OrderedMap<string, number>;
  readonly outputs: OrderedMap<string, number>;
}

export const freeze = (b: Builder, inputs: OrderedMap<string, number>, outputs: OrderedMap<string, number>): Graph => ({
  nodes: List(b.nodes),
  inputs,
  outputs,
});

export const shapeOf = (g: Graph, id: number): Shape => g.nodes.get(id)!.shape;

export class GraphError extends Error {
  override name = 'GraphError';
}

/** Re-derives every shape and checks order and references; a corrupted graph is named, not trusted. */
export const verify = (g: Graph): E.Either<GraphError, Graph> => {
  try {
    g.nodes.forEach((n, id) => {
      const prim = primitiveOf(n.op);
      if (!prim) throw new GraphError(`node ${id}: unknown primitive '${n.op}'`);
      n.inputs.forEach((i) => {
        if (!(i >= 0 && i < id)) throw new GraphError(`node ${id} (${n.op}): input ${i} is not an earlier node`);
      });
      if (prim.arity !== 'variadic' && n.inputs.length !== prim.arity)
        throw new GraphError(`node ${id} (${n.op}): expects ${prim.arity} inputs, has ${n.inputs.length}`);
      const shape = prim.shape(
        n.inputs.map((i) => g.nodes.get(i)!.shape),
        n.attrs,
      );
      if (!sameShape(shape, n.shape))
        throw new GraphError(`node ${id} (${n.op}): recorded shape ${fmt(n.shape)} but its rule gives ${fmt(shape)}`);
    });
    g.inputs.forEach((id, name) => {
      const n = g.nodes.get(id);
      if (!n || n.op !== 'input' || n.attrs.name !== name)
        throw new GraphError(`input '${name}' does not point at its input node`);
    });
    g.outputs.forEach((id, name) => {
      if (!g.nodes.has(id)) throw new GraphError(`output '${name}' points at missing node ${id}`);
    });
    return E.right(g);
  } catch (e) {
    return E.left(e instanceof GraphError ? e : new GraphError((e as Error).message));
  }
};

type Rule = (n: Node, ins: Tensor[], b: Builder) => Tensor | undefined;

/** Re-emits the nodes the outputs reach into `b`, inputs taken from `feeds`; returns old id → new tensor. */
const replay = (g: Graph, b: Builder, feeds: (name: string, id: number) => Tensor, rule: Rule): Tensor[] => {
  const live = reachable(g);
  const map: Tensor[] = new Array(g.nodes.size);
  g.inputs.forEach((id, name) => (map[id] = feeds(name, id)));
  g.nodes.forEach((n, id) => {
    if (!live[id] || map[id]) return;
    const ins = n.inputs.map((i) => map[i]);
    map[id] = rule(n, ins, b) ?? emit(n.op, ins, n.attrs, b);
  });
  return map;
};

/**
 * Rebuilds a graph through a fresh builder. `rule` may return a replacement for a node (built from
 * its already-rebuilt inputs); hash-consing merges what becomes equal, and only what the outputs
 * reach is kept. `extra` may add outputs built from the rebuilt nodes (as grad does).
 */
export const rebuild = (
  g: Graph,
  rule: Rule = () => undefined,
  extra?: (map: Tensor[], b: Builder) => OrderedMap<string, Tensor>,
): Graph => {
  const b = newBuilder();
  return withBuilder(b, () => {
    const map = replay(
      g,
      b,
      (_name, id) => {
        const n = g.nodes.get(id)!;
        return emit(n.op, [], n.attrs, b);
      },
      rule,
    );
    let outs = g.outputs.map((id) => map[id]);
    if (extra) outs = outs.merge(extra(map, b));
    return freeze(
      b,
      g.inputs.map((id) => map[id].id),
      outs.map((t) => t.id),
    );
  });
};

/**
 * Drops the nodes no output reaches (declared inputs stay) and renumbers the rest, in order. No
 * node is re-emitted, so this costs a copy: the cheap way to clean up after a rewriting rebuild.
 */
export const compact = (g: Graph): Graph => {
  const live = reachable(g);
  g.inputs.forEach((id) => (live[id] = 1));
  const renumber = new Int32Array(g.nodes.size);
  const nodes: Node[] = [];
  g.nodes.forEach((n, id) => {
    if (!live[id]) return;
    renumber[id] = nodes.length;
    nodes.push(n.inputs.length ? Object.freeze({ ...n, inputs: Object.freeze(n.inputs.map((i) => renumber[i])) }) : n);
  });
  return {
    nodes: List(nodes),
    inputs: g.inputs.map((id) => renumber[id]),
    outputs: g.outputs.map((id) => renumber[id]),
  };
};

/** Calls a graph as a function inside the current trace: graphs compose like the functions they came from. */
export const inline = (g: Graph, args: Readonly<Record<string, Tensor>>): Record<string, Tensor> => {
  const first = Object.values(args)[0];
  const b = first ? first.builder : activeBuilder('inline');
  const map = replay(
    g,
    b,
    (name, id) => {
      const t = args[name];
      const want = g.nodes.get(id)!.shape;
      if (!t) throw new GraphError(`inline: missing argument '${name}'`);
      if (!sameShape(t.shape, want))
        throw new GraphError(`inline: argument '${name}' has shape ${fmt(t.shape)}, the graph expects ${fmt(want)}`);
      return t;
    },
    () => undefined,
  );
  return Object.fromEntries([...g.outputs].map(([name, id]) => [name, map[id]]));
};

/** 1 for each node some output depends on. */
export const reachable = (g: Graph): Uint8Array => {
  const live = new Uint8Array(g.nodes.size);
  g.outputs.forEach((id) => (live[id] = 1));
  for (let id = g.nodes.size - 1; id >= 0; id--) if (live[id]) g.nodes.get(id)!.inputs.forEach((i) => (live[i] = 1));
  return live;
};

/** A graph as plain arrays: what structured clone carries to a worker (or JSON to a file). */
export interface PlainGraph {
  readonly nodes: readonly Node[];
  readonly inputs: readonly (readonly [string, number])[];
  readonly outputs: readonly (readonly [string, number])[];
}

export const toPlainGraph = (g: Graph): PlainGraph => ({
  nodes: g.nodes.toArray(),
  inputs: [...g.inputs.entries()],
  outputs: [...g.outputs.entries()],
});

/** The graph back from plain arrays, verified: what came over a wire is checked, not trusted. */
export const fromPlainGraph = (p: PlainGraph): E.Either<GraphError, Graph> =>
  verify({
    nodes: List(p.nodes),
    inputs: OrderedMap(p.inputs.map(([k, v]) => [k, v] as [string, number])),
    outputs: OrderedMap(p.outputs.map(([k, v]) => [k, v] as [string, number])),
  });
