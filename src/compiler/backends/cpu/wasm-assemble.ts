// WAT text → compiled WebAssembly.Module, in-process and synchronously (wasm-encode.ts), so kernels
// can be rendered at run time in Node, a bundler or a browser page alike. Modules are kept per source
// text (src/compiler/cache.ts).
import { encodeWat } from './wasm-encode.ts';
import { BoundedCache, KERNEL_CACHE_LIMIT } from '../../cache.ts';

const modules = new BoundedCache<string, WebAssembly.Module>(KERNEL_CACHE_LIMIT);

/** The compiled module for `wat` (assembled and compiled on first use in this process). */
export const assemble = (wat: string): WebAssembly.Module => {
  let m = modules.get(wat);
  if (!m) {
    m = new WebAssembly.Module(encodeWat(wat) as BufferSource);
    modules.set(wat, m);
  }
  return m;
};
