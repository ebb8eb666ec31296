// program.json of an exported generator: the gpu.js plan (see backends/gpujs/runner.ts), checked field by
// field and then walked step by step as the runner will run it, so that a bad plan is a named
// error here rather than a TypeError inside gpu.js. What no check can see is whether a kernel's
// source computes the right thing; the checksums in the manifest stand for that.
import { MAX_OUTPUT, MAX_VALUES, type GpujsPlan } from '../compiler/backends/gpujs/runner.ts';
import {
  array,
  at,
  exactly,
  expected,
  fail,
  integer,
  matching,
  object,
  parseJson,
  root,
  string,
  type Field,
} from './fields.ts';

const FILE = 'program.json';

export interface CheckedPlan {
  readonly plan: GpujsPlan;
  /** Values in each buffer, by id: the inputs' sizes and the kernels' output sizes. */
  readonly sizes: ReadonlyMap<number, number>;
}

const id = (f: Field) => integer(f, 0);

const unique = <T>(fields: readonly Field[], key: (f: Field) => T, what: string): void => {
  const seen = new Set<T>();
  for (const f of fields) {
    const k = key(f);
    if (seen.has(k)) expected(f, what);
    seen.add(k);
  }
};

/** A buffer size gpu.js can allocate. */
const bufferSize = (f: Field): number => {
  const n = integer(f, 1);
  return n <= MAX_OUTPUT ? n : expected(f, `at most ${MAX_OUTPUT} (WebGL's largest output)`);
};

const kernelsOf = (f: Field): GpujsPlan['kernels'] =>
  array(f)
    .map(object)
    .map((k) => ({
      source: string(at(k, 'source')),
      size: bufferSize(at(k, 'size')),
      kinds: matching(at(k, 'kinds'), /^[at]*$/, "one letter per argument, 'a' (array) or 't' (texture)"),
      outputs: values(at(k, 'outputs')),
    }));

/** How many values a kernel writes. */
const values = (f: Field): number => {
  const n = integer(f, 1);
  return n <= MAX_VALUES ? n : expected(f, `at most ${MAX_VALUES} (the draw buffers WebGL2 guarantees)`);
};

const inputsOf = (f: Field): GpujsPlan['inputs'] => {
  const fields = array(f).map(object);
  unique(
    fields.map((i) => at(i, 'name')),
    (n) => string(n),
    'a name no other input has',
  );
  unique(
    fields.map((i) => at(i, 'id')),
    id,
    'an id no other input has',
  );
  return fields.map((i) => ({ name: string(at(i, 'name')), id: id(at(i, 'id')), size: bufferSize(at(i, 'size')) }));
};

/** The outputs: each one of the buffers `live` at the end. */
const outputsOf = (f: Field, live: ReadonlySet<number>): GpujsPlan['outputs'] => {
  const fields = array(f).map(object);
  unique(
    fields.map((o) => at(o, 'name')),
    (n) => string(n),
    'a name no other output has',
  );
  return fields.map((o) => {
    const out = id(at(o, 'id'));
    return live.has(out)
      ? { name: string(at(o, 'name')), id: out }
      : expected(at(o, 'id'), 'a buffer defined by the end and not freed');
  });
};

/**
 * The steps, run on paper: each reads only buffers defined and not yet freed, as its kernel expects
 * them, and defines a new one. Records each buffer's size in `sizes` and leaves in `live` those
 * still defined at the end.
 */
const stepsOf = (
  f: Field,
  kernels: GpujsPlan['kernels'],
  inputs: GpujsPlan['inputs'],
  sizes: Map<number, number>,
  live: Set<number>,
): GpujsPlan['steps'] => {
  const inputIds = new Set(inputs.map((i) => i.id));
  return array(f).map((s, n) => {
    object(s);
    const kernel = integer(at(s, 'kernel'), 0);
    if (kernel >= kernels.length) expected(at(s, 'kernel'), `a kernel index below ${kernels.length}`);
    const readFields = array(at(s, 'reads'));
    const reads = readFields.map(id);
    const { kinds } = kernels[kernel];
    if (kinds.length !== reads.length)
      fail(at(s, 'reads'), `has ${reads.length} buffers, but kernels[${kernel}] takes ${kinds.length}`);
    readFields.forEach((r, j) => {
      if (!live.has(reads[j])) expected(r, `a buffer defined before steps[${n}] and not freed`);
      const kind = inputIds.has(reads[j]) ? 'a' : 't';
      if (kinds[j] !== kind)
        fail(
          r,
          `is ${reads[j]}, ${kind === 'a' ? 'an input' : "a kernel's result"}, but kernels[${kernel}].kinds[${j}] is '${kinds[j]}'`,
        );
    });
    const rootField = at(s, 'root');
    const siblingFields = array(at(s, 'siblings'));
    if (siblingFields.length !== kernels[kernel].outputs - 1)
      fail(
        at(s, 'siblings'),
        `has ${siblingFields.length} ids, but kernels[${kernel}] writes ${kernels[kernel].outputs} values`,
      );
    const [rootId, ...siblings] = [rootField, ...siblingFields].map((f) => {
      const written = id(f);
      if (sizes.has(written)) expected(f, 'an id no input or earlier step or value has');
      sizes.set(written, kernels[kernel].size);
      live.add(written);
      return written;
    });
    const freeFields = array(at(s, 'free'));
    const free = freeFields.map(id);
    freeFields.forEach((r, j) => {
      if (!reads.includes(free[j]) || free.indexOf(free[j]) !== j) expected(r, `a buffer steps[${n}] reads, once`);
      live.delete(free[j]);
    });
    return { kernel, root: rootId, siblings, reads, free };
  });
};

/** The checked plan in `bytes` (whose sha256 the manifest vouched for). */
export const parsePlan = (bytes: ArrayBuffer): CheckedPlan => {
  const top = object(root(FILE, parseJson(FILE, bytes)));
  const format = exactly(at(top, 'format'), 'draw-ts/gpujs-plan/2');
  const kernels = kernelsOf(at(top, 'kernels'));
  const inputs = inputsOf(at(top, 'inputs'));
  const sizes = new Map(inputs.map((i) => [i.id, i.size]));
  const live = new Set(sizes.keys());
  const steps = stepsOf(at(top, 'steps'), kernels, inputs, sizes, live);
  const outputs = outputsOf(at(top, 'outputs'), live);
  return { plan: { format, kernels, inputs, outputs, steps }, sizes };
};
