// The WAT encoder the CPU backend assembles its kernels with (src/compiler/backends/cpu/wasm-encode.ts)
// against watr, a general WAT assembler: the same bytes for every elementwise kernel of the DRAW step
// and every sgemm configuration; anything outside its subset an Error that names it.
import { describe, expect, it } from 'vitest';
import { compile as watr } from 'watr';
import { encodeWat } from '../src/compiler/backends/cpu/wasm-encode.ts';
import { renderWasmElementwise } from '../src/compiler/backends/cpu/wasm-elementwise.ts';
import { elementwiseLayout } from '../src/compiler/backends/cpu/render.ts';
import { gemmWat, defaultConfig } from '../src/compiler/backends/cpu/gemm-wat.ts';
import { lowerGraph } from '../src/compiler/compile.ts';
import { draw, presets } from '../src/models/draw/index.ts';
import { dataSpecs } from '../src/models/draw/model.ts';
import { trainStep, adam } from '../src/optim/index.ts';
import { unwrap } from '../src/util.ts';

const sameBytes = (wat: string): boolean => {
  const [a, b] = [watr(wat), encodeWat(wat)];
  return a.length === b.length && a.every((v, i) => v === b[i]);
};

describe('the WAT encoder', () => {
  it("gives watr's bytes for every elementwise kernel of the DRAW step and every sgemm configuration", () => {
    const config = { ...presets.mnistFast, T: 4 };
    const model = draw(config);
    const l = unwrap(
      lowerGraph(
        unwrap(trainStep(model.loss, model.paramShapes, dataSpecs(config, 8), adam({ lr: 1e-3 }), { clip: 10 })),
      ),
    );
    const wats = new Map<string, string>();
    for (const kernel of l.kernels) {
      const spec = { nodes: l.nodes, mat: l.mat, kernel };
      const { key, cuts } = elementwiseLayout(spec);
      if (wats.has(key)) continue;
      const wat = renderWasmElementwise(spec, cuts);
      if (wat !== undefined) wats.set(key, wat);
    }
    expect(wats.size).toBeGreaterThan(50);
    const gemms = [false, true].flatMap((fma) =>
      [false, true].flatMap((shared) => [1, 4].map((unroll) => gemmWat({ ...defaultConfig, fma, shared, unroll }))),
    );
    const different = [...wats.values(), ...gemms].filter((w) => !sameBytes(w));
    expect(different.map((w) => w.slice(0, 200))).toEqual([]);
  }, 60_000);

  it('encodes constants, lanes, labels and memory immediates as watr does', () => {
    const wat = `(module (import "env" "memory" (memory $m 1 4 shared))
  ;; a comment
  (func $f (export "f") (param $p i32) (result f64) (local $v v128) (local $k i64) (local $x f64)
    (local.set $v (v128.const i64x2 -9223372036854775808 0x000fffffffffffff))
    (local.set $v (f64x2.add (local.get $v) (v128.const f64x2 nan -inf)))
    (local.set $v (v128.const i32x4 -1 2147483648 0 7))
    (local.set $v (v128.const f32x4 1.5 -0 inf 3.4e38))
    (local.set $k (i64.const -1))
    (block $out (loop $again
      (br_if $out (i32.eqz (local.get $p)))
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (br $again)))
    (v128.store64_lane align=4 1 (local.get $p) (local.get $v))
    (v128.store offset=32 (local.get $p) (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 align=4 (local.get $p))))
    (memory.fill (local.get $p) (i32.const 0) (i32.const 16))
    (i64x2.shl (local.get $v) (i32.const 52)) (drop)
    (if (result f64) (v128.any_true (local.get $v)) (then (f64.const 1e-300)) (else (call $f (i32.const 0))))))`;
    expect(sameBytes(wat)).toBe(true);
  });

  it('names what it cannot encode', () => {
    const fn = (body: string) => `(module (func (param $p i32) (local $x f64) ${body}))`;
    expect(() => encodeWat(fn('(drop (f64.frobnicate (local.get $x)))'))).toThrow(
      'wasm-encode: unknown instruction f64.frobnicate',
    );
    expect(() => encodeWat(fn('(drop (local.get $y))'))).toThrow('wasm-encode: unknown local $y');
    expect(() => encodeWat(fn('(br $nowhere)'))).toThrow('wasm-encode: unknown label $nowhere');
    expect(() => encodeWat(fn('local.get $p'))).toThrow('wasm-encode: plain instruction local.get');
    expect(() => encodeWat('(module (func)')).toThrow('wasm-encode: unbalanced "("');
    expect(() => encodeWat('(module (table 1 funcref))')).toThrow('wasm-encode: module field table');
  });
});
