// Multi-output kernels, for a backend whose every launch costs more than its arithmetic (GPU_FUSION's
// `maxOutputs`): kernels of one shape and one loop (none, or the same reduction or product length)
// that read the same buffers, or one another's values at their own index, become one kernel that
// writes each of their values, with an accumulator each in the shared loop. Adam's new m, v and θ of
// one parameter are one launch, an LSTM step's c and h another, the read's two filterbank products a
// third. A member that reads an earlier member's value at its own index takes it from the kernel
// (codegen.ts's `locals`), never from memory.
import { isReduceNode, type Node } from '../dsl/tensor.ts';
import { primitives } from '../dsl/primitives.ts';
import { sameShape } from '../dsl/shape.ts';
import type { Graph } from './graph.ts';
import { fuse, type FusionPolicy, type Fused, type Kernel } from './fuse.ts';

export interface SiblingLimits {
  /** The most values one kernel writes. */
  readonly maxOutputs: number;
  /** The most buffers one kernel reads. */
  readonly maxReads: number;
}

/**
 * The loop a kernel runs for each output element, as a key: kernels merge only with kernels of the
 * same loop, which then carries one accumulator each. '' for none (elementwise).
 */
const loopOf = (nodes: readonly Node[], k: Kernel): string => {
  if (k.reduction === undefined) return '';
  const red = nodes[k.reduction];
  const inShapes = red.inputs.map((i) => nodes[i].shape);
  const t = primitives[red.op].kernel;
  if (t.kind === 'contract') return `${red.op} ${t.length(inShapes)}`;
  return isReduceNode(red) ? `reduce ${inShapes[0]} ${red.attrs.axes}` : red.op;
};

/** The buffers `root`'s expression reads at an index other than its own (through a view or a loop). */
const readsThroughViews = (nodes: readonly Node[], mat: Uint8Array, root: number): ReadonlySet<number> => {
  const found = new Set<number>();
  const seen = new Set<number>();
  const walk = (id: number, underView: boolean) => {
    const view = underView || primitives[nodes[id].op].kernel.kind !== 'map';
    for (const i of nodes[id].inputs) {
      if (mat[i]) {
        if (view) found.add(i);
      } else if (!seen.has(2 * i + (view ? 1 : 0))) {
        seen.add(2 * i + (view ? 1 : 0));
        walk(i, view);
      }
    }
  };
  walk(root, false);
  return found;
};

interface Group {
  readonly members: Kernel[];
  readonly roots: Set<number>;
  readonly reads: Set<number>;
  /** Where the merged kernel runs: the place of its last member. */
  at: number;
  open: boolean;
}

/**
 * Kernels (in an order where each reads only earlier outputs) → kernels in such an order, some with
 * siblings. A group runs where its last member ran, so it stays open only while no kernel outside it
 * reads one of its values; a kernel joins an open group of its shape whose buffers or values it reads.
 */
export const mergeSiblings = (
  nodes: readonly Node[],
  mat: Uint8Array,
  kernels: readonly Kernel[],
  limits: SiblingLimits,
): Kernel[] => {
  const groups: Group[] = [];
  const groupOf = new Map<number, Group>(); // by each member's root
  const byRead = new Map<number, Group[]>(); // the open groups reading each buffer
  const canJoin = (g: Group, k: Kernel, viaViews: ReadonlySet<number>): boolean => {
    if (!g.open || !sameShape(g.members[0].shape, k.shape) || g.members.length >= limits.maxOutputs) return false;
    if (loopOf(nodes, g.members[0]) !== loopOf(nodes, k)) return false;
    if ([...g.roots].some((r) => viaViews.has(r))) return false;
    const reads = new Set(g.reads);
    k.reads.forEach((r) => g.roots.has(r) || reads.add(r));
    return reads.size <= limits.maxReads;
  };
  kernels.forEach((k, at) => {
    const owners = new Set(k.reads.flatMap((r) => groupOf.get(r) ?? []));
    const viaViews = readsThroughViews(nodes, mat, k.root);
    const target = [...owners, ...k.reads.flatMap((r) => byRead.get(r) ?? [])].find((g) => canJoin(g, k, viaViews));
    // a group whose value this kernel reads and does not join must run before it: it closes
    owners.forEach((g) => g !== target && (g.open = false));
    const g = target ?? { members: [], roots: new Set<number>(), reads: new Set<number>(), at, open: true };
    if (!target) groups.push(g);
    g.members.push(k);
    g.roots.add(k.root);
    k.reads.forEach((r) => g.roots.has(r) || g.reads.add(r));
    g.at = at;
    groupOf.set(k.root, g);
    if (g.open)
      for (const r of k.reads) {
        const list = (byRead.get(r) ?? []).filter((x) => x.open);
        byRead.set(r, list.includes(g) ? list : [...list, g]);
      }
  });
  return groups
    .sort((a, b) => a.at - b.at)
    .map(({ members: [first, ...rest], reads }) =>
      rest.length === 0 ? first : { ...first, reads: [...reads], siblings: rest.map((m) => m.root) },
    );
};

/** Fusion as a backend with `policy` runs it: `fuse`, then `mergeSiblings` where the policy writes several values a kernel. */
export const fuseWithSiblings = (g: Graph, policy: FusionPolicy): Fused => {
  const fused = fuse(g, policy);
  if ((policy.maxOutputs ?? 1) <= 1) return fused;
  const limits = { maxOutputs: policy.maxOutputs!, maxReads: policy.maxReads ?? Infinity };
  return { ...fused, kernels: mergeSiblings(g.nodes.toArray(), fused.mat, fused.kernels, limits) };
};
