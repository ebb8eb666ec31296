// A Node module-resolution hook for the TensorFlow.js baseline (registered by bench/tfjs-draw.ts).
// tfjs-core's Node build leaves out the gradient functions; they ship only as ES modules whose
// relative imports have no extension ('../ops/mul'), which Node's resolver refuses. Inside
// tfjs-core's dist folder, such an import is resolved as the file with '.js' added.
export async function resolve(specifier, context, next) {
  const inTfjsCore = context.parentURL?.includes('/node_modules/@tensorflow/tfjs-core/dist/') ?? false;
  if (inTfjsCore && specifier.startsWith('.') && !specifier.endsWith('.js')) return next(`${specifier}.js`, context);
  return next(specifier, context);
}
