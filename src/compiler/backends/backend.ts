// What a backend is given for each kernel, and what it must provide to run a compiled program.
import type { Node } from '../../dsl/tensor.ts';
import type { Kernel } from '../fuse.ts';

export interface KernelSpec {
  readonly nodes: readonly Node[];
  readonly mat: Uint8Array;
  readonly kernel: Kernel;
}
