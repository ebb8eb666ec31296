// Random damage to an export's files for the fuzz tests: byte-level (random contents, a flipped
// bit, a truncation, inserted bytes) and JSON-level (a field deleted, a number shifted, any value
// put in place of a field's), as fast-check arbitraries with functions that apply them to a copy.
import fc from 'fast-check';
import type { Json } from './export-checks.ts';

export type ByteMutation =
  | { readonly kind: 'random'; readonly bytes: Uint8Array }
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: Uint8Array };

export const arbByteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ maxLength: 256 }) }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
);

/** `b` with `m` applied, as a new array (positions are taken modulo the length). */
export const mutateBytes = (b: Uint8Array, m: ByteMutation): Uint8Array => {
  switch (m.kind) {
    case 'random':
      return m.bytes;
    case 'flip': {
      const c = b.slice();
      c[m.at % c.length] ^= 1 << m.bit;
      return c;
    }
    case 'truncate':
      return b.slice(0, m.at % b.length);
    case 'insert': {
      const at = m.at % (b.length + 1);
      return new Uint8Array([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
    }
  }
};

export type JsonMutation =
  | { readonly pick: number; readonly op: 'delete' }
  | { readonly pick: number; readonly op: 'shift'; readonly by: number }
  | { readonly pick: number; readonly op: 'set'; readonly value: unknown };

// values near the edges of what the checks accept, besides any JSON value
const SPECIAL = [
  null,
  true,
  false,
  0,
  -1,
  1,
  0.5,
  4,
  1e300,
  2 ** 31,
  2 ** 53,
  '',
  'eps',
  'canvas',
  'weights.bin',
  [],
  {},
  [1],
];

export const arbJsonMutation: fc.Arbitrary<JsonMutation> = fc.oneof(
  fc.record({ pick: fc.nat(), op: fc.constant('delete' as const) }),
  fc.record({ pick: fc.nat(), op: fc.constant('shift' as const), by: fc.integer({ min: -8, max: 8 }) }),
  fc.record({
    pick: fc.nat(),
    op: fc.constant('set' as const),
    value: fc.oneof(fc.constantFrom(...SPECIAL), fc.jsonValue({ maxDepth: 2 })),
  }),
);

export type Path = readonly (string | number)[];

/** Every field and element under `v`, outermost first. */
export const pathsOf = (v: unknown, prefix: Path = []): Path[] => {
  if (typeof v !== 'object' || v === null) return [];
  const keys: (string | number)[] = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
  return keys.flatMap((k) => [[...prefix, k], ...pathsOf((v as Json)[k], [...prefix, k])]);
};

/** `weights.tensors[1].offset`, as the runtime's messages write it. */
export const pathText = (p: Path): string =>
  p.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');

/** Applies `m` to one of `paths` in `json` (which it changes); returns that path. */
export const mutateJson = (json: Json, paths: readonly Path[], m: JsonMutation): Path => {
  const path = paths[m.pick % paths.length];
  const holder = path.slice(0, -1).reduce<Json>((o, k) => o[k], json);
  const key = path[path.length - 1];
  const old = holder[key];
  if (m.op === 'delete') {
    if (Array.isArray(holder)) holder.splice(key as number, 1);
    else delete holder[key];
  } else if (m.op === 'set') holder[key] = m.value;
  else if (typeof old === 'number') holder[key] = old + m.by;
  else if (typeof old === 'string') holder[key] = `${old}${m.by}`;
  else if (typeof old === 'boolean') holder[key] = !old;
  return path;
};

/** What kind of JSON value `v` is: 'null', 'array', or its typeof. */
export const kindOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
