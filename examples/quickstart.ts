import { trace, grad, evaluate, simplify, unwrap, matmul, sigmoid, sum } from '../src/index.ts';

// a DSL function, traced into an immutable graph (shapes are checked here, and typed)
const g = unwrap(trace(({ x, w }) => sum(sigmoid(matmul(x, w))), { x: [2, 3], w: [3, 1] } as const));
const dg = simplify(unwrap(grad(g, 'out', ['w']))); // the gradient is a graph too
const feeds = { x: [1, 2, 3, 4, 5, 6], w: [0.1, -0.2, 0.3] };
const { out, 'grad.w': dw } = unwrap(evaluate(dg, feeds)); // float64 reference interpreter
console.log('f =', out[0].toFixed(6), ' df/dw =', [...dw].map((v) => v.toFixed(6)).join(' '));
console.log('nodes: forward', g.nodes.size, ' forward+gradient', dg.nodes.size);
