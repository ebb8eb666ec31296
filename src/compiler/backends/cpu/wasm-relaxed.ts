// WebAssembly relaxed SIMD (f32x4.relaxed_madd, a fused multiply-add where the CPU has one): the
// sgemm micro-kernel runs ~1.5× faster with it than with f32x4.mul + f32x4.add (bench/NOTES.md).
// Node ≥ 22 ships it; Node 20's V8 has it behind --experimental-wasm-relaxed-simd, a flag that is
// read when a module is validated or compiled, so setting it before our first compile is enough.
// Node's v8 module is reached through process.getBuiltinModule (Node ≥ 20.16), not an import, so
// this file bundles for browsers, which either have relaxed SIMD or stay portable.
// DRAW_WASM_RELAXED=0 keeps the portable mul + add kernel.
import { envVar } from '../../../util.ts';

// (module (func (param v128 v128 v128) (result v128) (f32x4.relaxed_madd (local.get 0) (local.get 1) (local.get 2))))
const probe = new Uint8Array([
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00, // magic, version
  0x01,
  0x08,
  0x01,
  0x60,
  0x03,
  0x7b,
  0x7b,
  0x7b,
  0x01,
  0x7b, // type: (v128 v128 v128) → v128
  0x03,
  0x02,
  0x01,
  0x00, // one function of that type
  0x0a,
  0x0d,
  0x01,
  0x0b,
  0x00,
  0x20,
  0x00,
  0x20,
  0x01,
  0x20,
  0x02,
  0xfd,
  0x85,
  0x02,
  0x0b, // body
]);

const validates = (): boolean => {
  try {
    return WebAssembly.validate(probe);
  } catch {
    return false;
  }
};

let available: boolean | undefined;

type V8Flags = { setFlagsFromString(flags: string): void };
const nodeV8 = (): V8Flags | undefined =>
  (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.('node:v8') as
    | V8Flags
    | undefined;

/** Whether relaxed SIMD can be used here (enabling V8's flag on runtimes that have it off). */
export const relaxedSimd = (): boolean => {
  if (envVar('DRAW_WASM_RELAXED') === '0') return false;
  if (available === undefined && !validates()) {
    try {
      nodeV8()?.setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      /* not V8: stay portable */
    }
  }
  return (available ??= validates());
};
