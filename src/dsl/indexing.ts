// Index arithmetic shared by the reference evaluator and the code generators. A movement op declares
// how an output index maps to an input index once, over an abstract algebra; evaluated with numbers it
// is the reference semantics, evaluated with strings it renders the loads of a fused kernel.
import type { Shape } from './shape.ts';
import { strides } from './shape.ts';

export interface IndexAlgebra<E> {
  lit(n: number): E;
  add(a: E, b: E): E;
  mul(a: E, k: number): E;
  div(a: E, k: number): E;
  mod(a: E, k: number): E;
}

export const numeric: IndexAlgebra<number> = {
  lit: (n) => n,
  add: (a, b) => a + b,
  mul: (a, k) => a * k,
  div: (a, k) => Math.floor(a / k),
  mod: (a, k) => a % k,
};

const isLit = (s: string): boolean => /^-?\d+$/.test(s);

/**
 * Renders integer index expressions, folding the trivial cases so generated loads stay readable.
 * `div` is the target's integer division (JS can truncate with `| 0`; GLSL needs floor).
 */
export const symbolicWith = (div: (a: string, k: number) => string): IndexAlgebra<string> => ({
  lit: (n) => String(n),
  add: (a, b) => (a === '0' ? b : b === '0' ? a : isLit(a) && isLit(b) ? String(+a + +b) : `(${a} + ${b})`),
  mul: (a, k) => (k === 0 || a === '0' ? '0' : k === 1 ? a : isLit(a) ? String(+a * k) : `${a} * ${k}`),
  div: (a, k) => (k === 1 ? a : isLit(a) ? String(Math.floor(+a / k)) : div(a, k)),
  mod: (a, k) => (k === 1 ? '0' : isLit(a) ? String(+a % k) : `(${a}) % ${k}`),
});

export const symbolic = symbolicWith((a, k) => `Math.floor((${a}) / ${k})`);

export const ravel = <E>(alg: IndexAlgebra<E>, idx: readonly E[], shape: Shape): E => {
  const st = strides(shape);
  let acc = alg.lit(0);
  idx.forEach((e, i) => {
    if (shape[i] !== 1) acc = alg.add(acc, alg.mul(e, st[i]));
  });
  return acc;
};

export const unravel = <E>(alg: IndexAlgebra<E>, lin: E, shape: Shape): E[] => {
  const st = strides(shape);
  const first = shape.findIndex((d) => d !== 1);
  return shape.map((d, i) =>
    d === 1 ? alg.lit(0) : i === first ? alg.div(lin, st[i]) : alg.mod(alg.div(lin, st[i]), d),
  );
};

/**
 * Reshape as index arithmetic. Size-1 dimensions are dropped, then the remaining ones are grouped
 * where the running products of both shapes meet (e.g. [B,784] and [B,28,28] give groups {B}~{B},
 * {784}~{28,28}), so only the dimensions a reshape really merges or splits pay for a division.
 */
export const reshapeIndex = <E>(alg: IndexAlgebra<E>, outIdx: readonly E[], outShape: Shape, inShape: Shape): E[] => {
  const outPos = outShape.flatMap((d, i) => (d === 1 ? [] : [i]));
  const inPos = inShape.flatMap((d, i) => (d === 1 ? [] : [i]));
  const res: E[] = inShape.map(() => alg.lit(0));
  let i = 0;
  let j = 0;
  while (i < outPos.length) {
    const oi = i;
    const ij = j;
    let po = outShape[outPos[i++]];
    let pi = inShape[inPos[j++]];
    while (po !== pi) {
      if (po < pi) po *= outShape[outPos[i++]];
      else pi *= inShape[inPos[j++]];
    }
    const og = outPos.slice(oi, i);
    const ig = inPos.slice(ij, j);
    const lin = ravel(
      alg,
      og.map((p) => outIdx[p]),
      og.map((p) => outShape[p]),
    );
    unravel(
      alg,
      lin,
      ig.map((p) => inShape[p]),
    ).forEach((e, k) => (res[ig[k]] = e));
  }
  return res;
};
