// WAT text → WebAssembly binary for the subset our kernels are written in: one module importing its
// memory, functions with named params, locals, labels and inline exports, instructions in folded form
// (`(op immediates… operands…)`). watr, a general WAT assembler, took 0.3–0.6 s of the T=64 step's
// compile for its 261 elementwise kernels (566K characters); this encoder takes 20–45 ms
// (bench/NOTES.md). An instruction or form outside the subset is an Error naming it, never a wrong
// byte: test/wasm-encode.test.ts checks that every kernel DRAW renders, and the sgemm, encode to
// exactly the bytes watr (a dev dependency, for that test) gives.

type Sexp = string | Sexp[];

const fail = (what: string): never => {
  throw new Error(`wasm-encode: ${what}`);
};

const [OPEN, CLOSE, QUOTE, SEMI] = ['(', ')', '"', ';'].map((c) => c.charCodeAt(0));
const isSpace = (c: number): boolean => c === 32 || c === 10 || c === 9 || c === 13;

/** Tokens and nesting of WAT text (`;;` comments dropped, "strings" kept with their quotes). */
const parse = (text: string): Sexp[] => {
  const stack: Sexp[][] = [[]];
  for (let i = 0; i < text.length; ) {
    const c = text.charCodeAt(i);
    if (isSpace(c)) i++;
    else if (c === OPEN) {
      stack.push([]);
      i++;
    } else if (c === CLOSE) {
      const done = stack.pop()!;
      if (!stack.length) fail('unbalanced ")"');
      stack[stack.length - 1].push(done);
      i++;
    } else if (c === SEMI && text.charCodeAt(i + 1) === SEMI) {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end;
    } else {
      let j = i + 1;
      if (c === QUOTE) j = text.indexOf('"', j) + 1 || fail('unterminated string');
      else
        while (
          j < text.length &&
          !isSpace(text.charCodeAt(j)) &&
          text.charCodeAt(j) !== OPEN &&
          text.charCodeAt(j) !== CLOSE
        )
          j++;
      stack[stack.length - 1].push(text.slice(i, j));
      i = j;
    }
  }
  if (stack.length !== 1) fail('unbalanced "("');
  return stack[0];
};

const VALTYPE: Record<string, number> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b };

const uleb = (out: number[], v: number): void => {
  do {
    const b = v & 0x7f;
    v = Math.floor(v / 128);
    out.push(v ? b | 0x80 : b);
  } while (v);
};
const sleb = (out: number[], v: bigint): void => {
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && !(b & 0x40)) || (v === -1n && b & 0x40)) return void out.push(b);
    out.push(b | 0x80);
  }
};
/** An instruction without structure: its opcode bytes; a memarg's natural alignment (log2 bytes); whether a lane index follows. */
interface Op {
  readonly code: readonly number[];
  readonly align?: number;
  readonly lane?: boolean;
}
const OPS = new Map<string, Op>();

/** Natural alignment (log2 bytes) of a memory instruction, from its name. */
const naturalAlign = (type: string, what: string): number => {
  if (/\dx\d/.test(what)) return 3; // v128.load8x8_s etc.: 64 bits
  const bits = /(?:load|store)(8|16|32|64)/.exec(what)?.[1];
  if (bits) return Math.log2(Number(bits) / 8);
  return type === 'v128' ? 4 : type.endsWith('64') ? 3 : 2;
};

// opcodes: runs of names in the spec's order from a first code ('_': a code not used here), after an
// optional prefix byte (0xFC, 0xFD: the code then as LEB128)
const runs = (first: number, names: string, prefix = '', prefixByte?: number): void =>
  names.split(' ').forEach((n, i) => {
    if (n === '_') return;
    const name = prefix + n;
    const code: number[] = [];
    if (prefixByte === undefined) code.push(first + i);
    else {
      code.push(prefixByte);
      uleb(code, first + i);
    }
    const [type, what] = name.split('.');
    const memory = /^(load|store)/.test(what) && (type !== 'v128' || prefixByte === 0xfd);
    OPS.set(name, { code, align: memory ? naturalAlign(type, what) : undefined, lane: /_lane$/.test(what) && memory });
  });
const cmp = 'eq ne lt_s lt_u gt_s gt_u le_s le_u ge_s ge_u';
const fcmp = 'eq ne lt gt le ge';
const iarith = 'clz ctz popcnt add sub mul div_s div_u rem_s rem_u and or xor shl shr_s shr_u rotl rotr';
const farith = 'abs neg ceil floor trunc nearest sqrt add sub mul div min max copysign';
/** Opcode rows: [first code, names, name prefix, prefix byte]. */
const OPCODE_ROWS: readonly (readonly [number, string, string?, number?])[] = [
  [0x00, 'unreachable nop'],
  [0x0f, 'return'],
  [0x1a, 'drop select'],
  [
    0x28,
    'i32.load i64.load f32.load f64.load i32.load8_s i32.load8_u i32.load16_s i32.load16_u i64.load8_s i64.load8_u i64.load16_s i64.load16_u i64.load32_s i64.load32_u ' +
      'i32.store i64.store f32.store f64.store i32.store8 i32.store16 i64.store8 i64.store16 i64.store32',
  ],
  [0x45, `eqz ${cmp}`, 'i32.'],
  [0x50, `eqz ${cmp}`, 'i64.'],
  [0x5b, fcmp, 'f32.'],
  [0x61, fcmp, 'f64.'],
  [0x67, iarith, 'i32.'],
  [0x79, iarith, 'i64.'],
  [0x8b, farith, 'f32.'],
  [0x99, farith, 'f64.'],
  [
    0xa7,
    'i32.wrap_i64 i32.trunc_f32_s i32.trunc_f32_u i32.trunc_f64_s i32.trunc_f64_u i64.extend_i32_s i64.extend_i32_u ' +
      'i64.trunc_f32_s i64.trunc_f32_u i64.trunc_f64_s i64.trunc_f64_u f32.convert_i32_s f32.convert_i32_u f32.convert_i64_s ' +
      'f32.convert_i64_u f32.demote_f64 f64.convert_i32_s f64.convert_i32_u f64.convert_i64_s f64.convert_i64_u f64.promote_f32 ' +
      'i32.reinterpret_f32 i64.reinterpret_f64 f32.reinterpret_i32 f64.reinterpret_i64',
  ],
  [
    0,
    'i32.trunc_sat_f32_s i32.trunc_sat_f32_u i32.trunc_sat_f64_s i32.trunc_sat_f64_u i64.trunc_sat_f32_s i64.trunc_sat_f32_u i64.trunc_sat_f64_s i64.trunc_sat_f64_u',
    '',
    0xfc,
  ],
  [
    0,
    'v128.load v128.load8x8_s v128.load8x8_u v128.load16x4_s v128.load16x4_u v128.load32x2_s v128.load32x2_u v128.load8_splat v128.load16_splat v128.load32_splat v128.load64_splat v128.store _ _ i8x16.swizzle ' +
      'i8x16.splat i16x8.splat i32x4.splat i64x2.splat f32x4.splat f64x2.splat',
    '',
    0xfd,
  ],
  [35, cmp, 'i8x16.', 0xfd],
  [45, cmp, 'i16x8.', 0xfd],
  [55, cmp, 'i32x4.', 0xfd],
  [65, fcmp, 'f32x4.', 0xfd],
  [71, fcmp, 'f64x2.', 0xfd],
  [
    77,
    'v128.not v128.and v128.andnot v128.or v128.xor v128.bitselect v128.any_true v128.load8_lane v128.load16_lane v128.load32_lane v128.load64_lane ' +
      'v128.store8_lane v128.store16_lane v128.store32_lane v128.store64_lane v128.load32_zero v128.load64_zero f32x4.demote_f64x2_zero f64x2.promote_low_f32x4',
    '',
    0xfd,
  ],
  [103, 'f32x4.ceil f32x4.floor f32x4.trunc f32x4.nearest', '', 0xfd],
  [116, 'f64x2.ceil f64x2.floor', '', 0xfd],
  [122, 'f64x2.trunc', '', 0xfd],
  [148, 'f64x2.nearest', '', 0xfd],
  [171, 'shl shr_s shr_u add _ _ sub _ _ _ mul', 'i32x4.', 0xfd],
  [199, 'extend_low_i32x4_s _ _ _ shl shr_s shr_u add _ _ sub _ _ _ mul', 'i64x2.', 0xfd],
  [224, 'abs neg _ sqrt add sub mul div min max pmin pmax', 'f32x4.', 0xfd],
  [236, 'abs neg _ sqrt add sub mul div min max pmin pmax', 'f64x2.', 0xfd],
  [
    248,
    'i32x4.trunc_sat_f32x4_s i32x4.trunc_sat_f32x4_u f32x4.convert_i32x4_s f32x4.convert_i32x4_u i32x4.trunc_sat_f64x2_s_zero i32x4.trunc_sat_f64x2_u_zero f64x2.convert_low_i32x4_s f64x2.convert_low_i32x4_u',
    '',
    0xfd,
  ],
  [0x105, 'f32x4.relaxed_madd f32x4.relaxed_nmadd f64x2.relaxed_madd f64x2.relaxed_nmadd', '', 0xfd],
];
OPCODE_ROWS.forEach(([first, names, prefix, prefixByte]) => runs(first, names, prefix, prefixByte));

/** n as unsigned LEB128 bytes. */
const leb = (n: number): number[] => {
  const out: number[] = [];
  uleb(out, n);
  return out;
};
/** Appends `bytes` to `out` one by one (a spread into push overflows the stack for a large function body). */
const append = (out: number[], bytes: readonly number[]): number[] => {
  for (const b of bytes) out.push(b);
  return out;
};
/** `bytes` after their count, as a vector, a name or a function body is encoded. */
const sized = (bytes: readonly number[]): number[] => append(leb(bytes.length), bytes);

const int = (t: string): bigint => {
  const neg = t.startsWith('-');
  const v = BigInt(neg ? t.slice(1) : t.replace(/^\+/, '')); // BigInt reads decimal and 0x
  return neg ? -v : v;
};
const float = (t: string): number =>
  t === 'nan' ? NaN : t === 'inf' || t === '+inf' ? Infinity : t === '-inf' ? -Infinity : Number(t);
const bytesOf = (array: { readonly buffer: ArrayBufferLike }): number[] => [...new Uint8Array(array.buffer)];

const LANES: Record<string, { n: number; bytes: (vs: string[]) => number[] }> = {
  f32x4: { n: 4, bytes: (vs) => bytesOf(Float32Array.from(vs, float)) },
  f64x2: { n: 2, bytes: (vs) => bytesOf(Float64Array.from(vs, float)) },
  i64x2: { n: 2, bytes: (vs) => bytesOf(BigInt64Array.from(vs, (v) => BigInt.asIntN(64, int(v)))) },
  i32x4: { n: 4, bytes: (vs) => bytesOf(Uint32Array.from(vs, (v) => Number(BigInt.asUintN(32, int(v))))) },
};

const atom = (s: Sexp | undefined, what: string): string =>
  typeof s === 'string' ? s : fail(`expected ${what}, got ${JSON.stringify(s)}`);
const valtype = (t: Sexp | undefined): number => VALTYPE[atom(t, 'a value type')] ?? fail(`value type ${t}`);

interface FuncScope {
  readonly locals: Map<string, number>;
  readonly funcs: Map<string, number>;
  readonly labels: (string | undefined)[];
}

/** Encodes e[from…] as instructions. */
const seq = (out: number[], e: readonly Sexp[], from: number, scope: FuncScope): void => {
  for (let i = from; i < e.length; i++) instr(out, e[i], scope);
};

/** The index after an optional `$label` at e[at], and the label. */
const labelAt = (e: readonly Sexp[], at: number): [number, string | undefined] =>
  typeof e[at] === 'string' && (e[at] as string).startsWith('$') ? [at + 1, e[at] as string] : [at, undefined];

/** A block type at e[at] (`(result t)`, or none): the index after it. */
const blockType = (out: number[], e: readonly Sexp[], at: number): number => {
  const r = e[at];
  if (Array.isArray(r) && r[0] === 'result') {
    out.push(valtype(r[1]));
    return at + 1;
  }
  out.push(0x40);
  return at;
};

const index = (names: Map<string, number>, ref: string, what: string): number =>
  /^\d+$/.test(ref) ? Number(ref) : (names.get(ref) ?? fail(`unknown ${what} ${ref}`));

/** Instructions with structure or immediates of their own, each given the whole folded form. */
const STRUCTURED = new Map<string, (out: number[], e: readonly Sexp[], scope: FuncScope) => void>();
const LOCAL_OPS = { 'local.get': 0x20, 'local.set': 0x21, 'local.tee': 0x22 } as const;
for (const [op, code] of Object.entries(LOCAL_OPS))
  STRUCTURED.set(op, (out, e, scope) => {
    const l = index(scope.locals, atom(e[1], 'a local'), 'local');
    seq(out, e, 2, scope);
    out.push(code);
    uleb(out, l);
  });
for (const [op, code] of [
  ['block', 0x02],
  ['loop', 0x03],
] as const)
  STRUCTURED.set(op, (out, e, scope) => {
    const [at, name] = labelAt(e, 1);
    out.push(code);
    const bodyAt = blockType(out, e, at);
    scope.labels.push(name);
    seq(out, e, bodyAt, scope);
    scope.labels.pop();
    out.push(0x0b);
  });
STRUCTURED.set('if', (out, e, scope) => {
  const [at, name] = labelAt(e, 1);
  const bt: number[] = [];
  const condAt = blockType(bt, e, at);
  let end = e.length;
  const els = (e[end - 1] as Sexp[])[0] === 'else' ? (e[--end] as Sexp[]) : undefined;
  const then = (e[end - 1] as Sexp[])?.[0] === 'then' ? (e[--end] as Sexp[]) : fail('if without (then …)');
  for (let i = condAt; i < end; i++) instr(out, e[i], scope); // the condition
  out.push(0x04, ...bt);
  scope.labels.push(name);
  seq(out, then, 1, scope);
  if (els) {
    out.push(0x05);
    seq(out, els, 1, scope);
  }
  scope.labels.pop();
  out.push(0x0b);
});
for (const [op, code] of [
  ['br', 0x0c],
  ['br_if', 0x0d],
] as const)
  STRUCTURED.set(op, (out, e, scope) => {
    const ref = atom(e[1], 'a label');
    seq(out, e, 2, scope);
    const depth = /^\d+$/.test(ref) ? Number(ref) : scope.labels.length - 1 - scope.labels.lastIndexOf(ref);
    if (depth >= scope.labels.length) fail(`unknown label ${ref}`);
    out.push(code);
    uleb(out, depth);
  });
STRUCTURED.set('call', (out, e, scope) => {
  const f = index(scope.funcs, atom(e[1], 'a function'), 'function');
  seq(out, e, 2, scope);
  out.push(0x10);
  uleb(out, f);
});
STRUCTURED.set('i32.const', (out, e) => {
  out.push(0x41);
  sleb(out, BigInt.asIntN(32, int(atom(e[1], 'an integer'))));
});
STRUCTURED.set('i64.const', (out, e) => {
  out.push(0x42);
  sleb(out, BigInt.asIntN(64, int(atom(e[1], 'an integer'))));
});
STRUCTURED.set('f32.const', (out, e) => void out.push(0x43, ...bytesOf(Float32Array.of(float(atom(e[1], 'a float'))))));
STRUCTURED.set('f64.const', (out, e) => void out.push(0x44, ...bytesOf(Float64Array.of(float(atom(e[1], 'a float'))))));
STRUCTURED.set('v128.const', (out, e) => {
  const shape = LANES[atom(e[1], 'a lane shape')] ?? fail(`v128.const ${e[1]}`);
  const vs = e.slice(2, 2 + shape.n).map((v) => atom(v, 'a lane value'));
  if (vs.length !== shape.n) fail(`v128.const ${e[1]} needs ${shape.n} values`);
  out.push(0xfd, 12, ...shape.bytes(vs));
});
STRUCTURED.set('memory.fill', (out, e, scope) => {
  seq(out, e, 1, scope);
  out.push(0xfc, 11, 0x00);
});

/** One folded instruction: its operands first, then its opcode and immediates. */
const instr = (out: number[], e: Sexp, scope: FuncScope): void => {
  if (!Array.isArray(e)) return fail(`plain instruction ${e} (only the folded form is read)`);
  const op = atom(e[0], 'an instruction');
  const info = OPS.get(op);
  if (!info) return (STRUCTURED.get(op) ?? fail(`unknown instruction ${op}`))(out, e, scope);
  let at = 1;
  let offset = 0;
  let align = info.align ?? 0;
  if (info.align !== undefined) {
    for (let t = e[at]; typeof t === 'string' && (t.startsWith('offset=') || t.startsWith('align=')); t = e[++at]) {
      if (t.startsWith('offset=')) offset = Number(t.slice(7));
      else align = Math.log2(Number(t.slice(6)));
    }
  }
  const lane = info.lane ? Number(atom(e[at++], 'a lane index')) : 0;
  seq(out, e, at, scope);
  for (const b of info.code) out.push(b);
  if (info.align !== undefined) {
    out.push(align);
    uleb(out, offset);
  }
  if (info.lane) out.push(lane);
};

const section = (out: number[], id: number, items: number[][]): void => {
  if (!items.length) return;
  out.push(id);
  append(out, sized(items.reduce((content, it) => append(content, it), leb(items.length))));
};
const name = (s: string): number[] => sized([...new TextEncoder().encode(s.slice(1, -1))]);

/** The binary of a WAT module in the subset above. */
export const encodeWat = (text: string): Uint8Array => {
  const [module, ...extra] = parse(text);
  if (!Array.isArray(module) || module[0] !== 'module' || extra.length) fail('expected one (module …)');
  const fields = (module as Sexp[]).slice(1) as Sexp[][];
  const imports: number[][] = [];
  const funcs = fields.filter((f) => f[0] === 'func');
  const funcIndex = new Map<string, number>();
  funcs.forEach((f, i) => typeof f[1] === 'string' && f[1].startsWith('$') && funcIndex.set(f[1], i));
  for (const f of fields) {
    if (f[0] === 'func') continue;
    if (f[0] !== 'import') fail(`module field ${f[0]}`);
    const [, mod, field, desc] = f as [string, string, string, Sexp[]];
    if (desc[0] !== 'memory') fail(`import of ${desc[0]}`);
    const limits = desc.slice(1).filter((x): x is string => typeof x === 'string' && !x.startsWith('$'));
    const shared = limits.at(-1) === 'shared';
    const [min, max] = limits.filter((x) => x !== 'shared').map(Number);
    const lim: number[] = [shared ? 0x03 : max !== undefined ? 0x01 : 0x00];
    uleb(lim, min);
    if (max !== undefined) uleb(lim, max);
    imports.push([...name(mod), ...name(field), 0x02, ...lim]);
  }
  const types: string[] = [];
  const typeOf: number[][] = [];
  const exports: number[][] = [];
  const codes: number[][] = [];
  funcs.forEach((f, fi) => {
    const items = f.slice(1).filter((x) => !(typeof x === 'string' && x.startsWith('$')));
    const locals = new Map<string, number>();
    const params: number[] = [];
    const results: number[] = [];
    const localTypes: number[] = [];
    const code: number[] = [];
    for (const item of items) {
      const [kind, ...rest] = Array.isArray(item)
        ? item
        : fail(`plain instruction ${item} (only the folded form is read)`);
      if (kind === 'export') {
        exports.push([...name(atom(rest[0], 'an export name')), 0x00, ...leb(fi)]);
      } else if (kind === 'param' || kind === 'local') {
        const named = typeof rest[0] === 'string' && rest[0].startsWith('$');
        const ts = (named ? rest.slice(1) : rest).map(valtype);
        if (named) locals.set(rest[0] as string, params.length + localTypes.length);
        (kind === 'param' ? params : localTypes).push(...ts);
      } else if (kind === 'result') results.push(...rest.map(valtype));
      else instr(code, item, { locals, funcs: funcIndex, labels: [] });
    }
    const key = [0x60, ...sized(params), ...sized(results)].join(',');
    if (!types.includes(key)) types.push(key);
    typeOf.push(leb(types.indexOf(key)));
    // locals as runs of one type
    const groups: number[] = [];
    let runsCount = 0;
    for (let i = 0; i < localTypes.length; ) {
      let j = i;
      while (j < localTypes.length && localTypes[j] === localTypes[i]) j++;
      uleb(groups, j - i);
      groups.push(localTypes[i]);
      runsCount++;
      i = j;
    }
    const fn = append(append(leb(runsCount), groups), code);
    fn.push(0x0b);
    codes.push(sized(fn));
  });
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  section(
    out,
    1,
    types.map((k) => k.split(',').map(Number)),
  );
  section(out, 2, imports);
  section(out, 3, typeOf);
  section(out, 7, exports);
  section(out, 10, codes);
  return Uint8Array.from(out);
};
