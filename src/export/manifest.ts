// manifest.json of an exported generator: what it holds, the checksum that covers it, and its
// reading, which checks every field before the runtime uses any. Checks that need program.json
// too (the tensors the program reads, the image size it draws) are in agreement.ts.
import {
  GeneratorError,
  array,
  at,
  boolean,
  exactly,
  expected,
  fail,
  integer,
  matching,
  object,
  parseJson,
  root,
  sha256,
  string,
  type Field,
} from './fields.ts';

export const MANIFEST_FORMAT = 'draw-ts/generator/1';

export interface TensorEntry {
  readonly name: string;
  readonly shape: readonly number[];
  /** Byte offset in weights.bin and length in floats (float32, little-endian). */
  readonly offset: number;
  readonly length: number;
}

/** A file of the export and the sha256 of its bytes. */
export interface FileEntry {
  readonly file: string;
  readonly sha256: string;
}

export interface ManifestConfig {
  readonly T: number;
  readonly A: number;
  readonly B: number;
  readonly channels: number;
  readonly zSize: number;
  readonly writeN: number;
  readonly writeAttention: boolean;
}

/** The manifest without its checksum: what `draw export` builds and the checksum covers. */
export interface ManifestBody {
  readonly format: typeof MANIFEST_FORMAT;
  /** The DRAW config the weights belong to (T, sizes, attention, image shape). */
  readonly config: ManifestConfig;
  /** Images per run of the program; `generate` runs it as often as a count needs. */
  readonly batch: number;
  /** The prior noise input, [T, batch, zSize]. */
  readonly noise: string;
  readonly weights: FileEntry & { readonly bytes: number; readonly tensors: readonly TensorEntry[] };
  readonly program: FileEntry;
  readonly source: Readonly<Record<string, unknown>>;
}

export interface Manifest extends ManifestBody {
  /** sha256 of `manifestText` of the other fields. */
  readonly sha256: string;
}

/**
 * The text the manifest's checksum covers: JSON.stringify of the manifest without its `sha256`
 * field, the other fields in their order. JSON.parse then JSON.stringify gives back the same text,
 * so the exporter and the runtime compute it alike however the file is laid out.
 */
export const manifestText = (m: object): string => {
  const { sha256: _, ...body } = m as { sha256?: unknown };
  return JSON.stringify(body);
};

const FILE = 'manifest.json';
const SHA256 = /^[0-9a-f]{64}$/;
// the files sit next to manifest.json: a name, never a path
const FILE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
const CONFIG_INTEGERS = ['T', 'A', 'B', 'channels', 'zSize', 'writeN'] as const;

const fileEntry = (f: Field): FileEntry => ({
  file: matching(at(f, 'file'), FILE_NAME, "a file name in the generator's folder"),
  sha256: matching(at(f, 'sha256'), SHA256, 'a sha256 (64 hex digits)'),
});

const configOf = (f: Field): ManifestConfig => {
  object(f);
  // the fields the runtime does not use (encSize, readN, ...) must still look like a DRAW config's
  for (const key of Object.keys(f.value as object)) {
    const { value } = at(f, key);
    if (typeof value !== 'boolean' && !(Number.isSafeInteger(value) && (value as number) >= 1))
      expected(at(f, key), 'an integer ≥ 1 or true/false');
  }
  const ints = Object.fromEntries(CONFIG_INTEGERS.map((k) => [k, integer(at(f, k), 1)])) as Record<
    (typeof CONFIG_INTEGERS)[number],
    number
  >;
  return { ...(f.value as object), ...ints, writeAttention: boolean(at(f, 'writeAttention')) };
};

/** The tensor table: lengths are their shapes' sizes, packed in order from byte 0 with no gaps. */
const tensorsOf = (f: Field): TensorEntry[] => {
  let next = 0;
  const names = new Set<string>();
  return array(f).map((t) => {
    object(t);
    const name = string(at(t, 'name'));
    if (names.has(name)) expected(at(t, 'name'), 'a name no other tensor has');
    names.add(name);
    const shape = array(at(t, 'shape')).map((d) => integer(d, 1));
    const length = integer(at(t, 'length'), 0);
    const size = shape.reduce((a, b) => a * b, 1);
    if (length !== size) expected(at(t, 'length'), `${size} (the size of shape [${shape.join(', ')}])`);
    const offset = integer(at(t, 'offset'), 0);
    if (offset !== next) fail(at(t, 'offset'), `is ${offset}, expected ${next} (tensors are packed in order)`);
    next += 4 * length;
    return { name, shape, offset, length };
  });
};

const weightsOf = (f: Field): Manifest['weights'] => {
  object(f);
  const tensors = tensorsOf(at(f, 'tensors'));
  const end = tensors.reduce((n, t) => n + 4 * t.length, 0);
  const bytes = integer(at(f, 'bytes'), 0);
  if (bytes !== end) fail(at(f, 'bytes'), `is ${bytes}, expected ${end} (4 bytes per float of the tensors)`);
  return { ...fileEntry(f), bytes, tensors };
};

/** The checked manifest in `bytes`: its checksum first, as nothing in an edited file is to be believed. */
export const parseManifest = async (bytes: ArrayBuffer): Promise<Manifest> => {
  const top = object(root(FILE, parseJson(FILE, bytes)));
  const format = exactly(at(top, 'format'), MANIFEST_FORMAT);
  const claimed = matching(at(top, 'sha256'), SHA256, 'a sha256 (64 hex digits)');
  const actual = await sha256(new TextEncoder().encode(manifestText(top.value as object)).buffer as ArrayBuffer);
  if (actual !== claimed)
    throw new GeneratorError(
      `generator: ${FILE} was edited or is corrupt: its sha256 field says ${claimed}, its contents hash to ${actual}`,
    );
  return {
    format,
    config: configOf(at(top, 'config')),
    batch: integer(at(top, 'batch'), 1),
    noise: string(at(top, 'noise')),
    weights: weightsOf(at(top, 'weights')),
    program: fileEntry(object(at(top, 'program'))),
    source: object(at(top, 'source')).value as Record<string, unknown>,
    sha256: claimed,
  };
};
