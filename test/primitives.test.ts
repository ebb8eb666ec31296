import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { primitives, primitiveNames } from '../src/dsl/primitives.ts';
import { primitiveCases, shapeAgrees, gradientAgrees } from '../src/testing/primitive-properties.ts';

describe('primitive table', () => {
  it('declares shape, evaluation, vjp and kernel template for every primitive', () => {
    for (const name of primitiveNames) {
      const p = primitives[name] as Record<string, unknown>;
      for (const field of ['shape', 'evaluate', 'vjp', 'kernel']) expect(p[field], `${name}.${field}`).toBeDefined();
      expect(primitiveCases[name], `property case for ${name}`).toBeDefined();
    }
    expect(primitiveNames.length).toBe(22);
  });
});

describe.each(primitiveNames)('primitive %s', (name) => {
  it('shape rule agrees with evaluation', () => {
    fc.assert(fc.property(primitiveCases[name], shapeAgrees), { numRuns: 30, seed: 1 });
  });
  it('vjp agrees with central finite differences', () => {
    fc.assert(
      fc.property(primitiveCases[name], (c) => gradientAgrees(c) !== undefined),
      { numRuns: 30, seed: 2 },
    );
  });
});
