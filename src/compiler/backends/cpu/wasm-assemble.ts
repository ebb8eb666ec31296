// WAT text → compiled WebAssembly.Module, in-process and synchronously (wasm-encode.ts), so kernels
// can be rendered at run time in Node, a bundler or a browser page alike. Modules are kept per source
// text for the life of the process.
import { encodeWat } from './wasm-encode.ts';

const modules = new Map<string, WebAssembly.Module>();

/** The compiled module for `wat` (assembled and compiled on first use in this process). */
export const assemble = (wat: string): WebAssembly.Module => {
  let m = modules.get(wat);
  if (!m) {
    m = new WebAssembly.Module(encodeWat(wat) as BufferSource);
    modules.set(wat, m);
  }
  return m;
};
