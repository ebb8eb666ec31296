// draw-ts/testing: what a project needs to property-test its own model math with this library: the
// gradient checker, fast-check arbitraries and properties for primitives, random graphs for
// backends, and DRAW's properties (filterbanks, read/write adjointness, whole-model gradients).
// It depends on fast-check; the library's main entry does not.
export * from './gradcheck.ts';
export { compiledVsReference, type Disagreement } from './compiled.ts';
export * as properties from './primitive-properties.ts';
export * as drawProperties from './draw-properties.ts';
export { type RandomGraph, randomGraph, arbRandomGraph } from './random-graphs.ts';
