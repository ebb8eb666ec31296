// Reading an exported generator's JSON files field by field. The files come from disk or the
// network, so nothing in them is trusted: each read checks one field's type and range, and a failed
// check names the file and the field's path (`weights.tensors[3].offset`) in a GeneratorError.

/** Every error the exported generator's runtime raises for a bad folder or a bad call: one line. */
export class GeneratorError extends Error {
  override name = 'GeneratorError';
  constructor(message: string) {
    // messages quote what they read (JSON.parse quotes the text near the fault), which may hold line breaks
    super(message.replace(/\s*[\r\n]+\s*/g, ' '));
  }
}

/** A value at `path` in `file`; `path` is '' for the file's top level. */
export interface Field {
  readonly file: string;
  readonly path: string;
  readonly value: unknown;
}

export const root = (file: string, value: unknown): Field => ({ file, path: '', value });

/** `generator: FILE: PATH problem` (or `generator: FILE problem` at the top level). */
export const fail = (f: { readonly file: string; readonly path: string }, problem: string): never => {
  throw new GeneratorError(`generator: ${f.file}${f.path ? `: ${f.path}` : ''} ${problem}`);
};

const shown = (v: unknown): string => {
  if (v === undefined) return 'missing';
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
};

/** Fails with `is VALUE, expected WHAT`. */
export const expected = (f: Field, what: string): never => fail(f, `is ${shown(f.value)}, expected ${what}`);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Field `key` of an object field, or element `key` of an array field (missing: value undefined). */
export const at = (f: Field, key: string | number): Field => {
  const holder = f.value as Record<string | number, unknown>;
  // own fields only: a key such as 'constructor' must read as missing, not as Object's
  const value = Object.hasOwn(holder, key) ? holder[key] : undefined;
  const path = typeof key === 'number' ? `${f.path}[${key}]` : f.path ? `${f.path}.${key}` : key;
  return { file: f.file, path, value };
};

export const object = (f: Field): Field => (isRecord(f.value) ? f : expected(f, 'an object'));

/** The elements of an array field. */
export const array = (f: Field): Field[] =>
  Array.isArray(f.value) ? f.value.map((_, i) => at(f, i)) : expected(f, 'an array');

export const string = (f: Field): string => (typeof f.value === 'string' ? f.value : expected(f, 'a string'));

export const boolean = (f: Field): boolean => (typeof f.value === 'boolean' ? f.value : expected(f, 'true or false'));

/** An integer ≥ `min` that doubles hold exactly. */
export const integer = (f: Field, min: number): number =>
  Number.isSafeInteger(f.value) && (f.value as number) >= min
    ? (f.value as number)
    : expected(f, `an integer ≥ ${min}`);

/** A string matching `pattern`, described as `what` when it does not. */
export const matching = (f: Field, pattern: RegExp, what: string): string => {
  const s = string(f);
  return pattern.test(s) ? s : expected(f, what);
};

/** A value equal to `value` (the format tag, say). */
export const exactly = <T extends string>(f: Field, value: T): T =>
  f.value === value ? value : expected(f, JSON.stringify(value));

/** The JSON value in `bytes`, which must be UTF-8 text. */
export const parseJson = (file: string, bytes: ArrayBuffer): unknown => {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return fail({ file, path: '' }, 'is not UTF-8 text');
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    return fail({ file, path: '' }, `is not valid JSON (${(e as Error).message})`);
  }
};

const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');
/** Web Crypto's SHA-256, so the same code runs in Node and in a browser. */
export const sha256 = async (b: ArrayBuffer): Promise<string> =>
  hex(await globalThis.crypto.subtle.digest('SHA-256', b));
