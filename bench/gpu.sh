#!/usr/bin/env bash
# One command for the first machine with a GPU (or none: it runs to completion on software GL too):
#   bash bench/gpu.sh [--quick]
# records the machine, its GPU and the GL renderers, then the DRAW training step on gpujs (headless-gl
# in Node, beside the cpu backend) and in Chromium (examples/browser-train, with its GPU through ANGLE
# where a Vulkan driver is installed, else SwiftShader), and the per-kernel bench. Everything it prints
# also lands in ${OUT:-bench/out}/gpu-<date>.txt, the JSON lines last. Installs nothing over the
# network when node_modules (with gl built: .ci/setup-gl.sh) is already there. --quick: T=2, batch 10.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/out}"
mkdir -p "$out"
log="$out/gpu-$(date -u +%Y%m%dT%H%M%SZ).txt"
exec > >(tee "$log") 2>&1

size=(--T 10 --batch 100 --steps 3)
[ "${1:-}" = "--quick" ] && size=(--T 2 --batch 10 --steps 2)

echo "# $(date -u) $(uname -m) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), node $(node --version)"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
else
  echo "no nvidia-smi: no NVIDIA driver here"
fi
[ -d node_modules ] || npm ci
[ -f node_modules/gl/build/Release/webgl.node ] || bash .ci/setup-gl.sh

# headless-gl draws through GLX: under Xvfb that is Mesa's llvmpipe (software), whatever the GPU;
# a display with the vendor's GL driver (DISPLAY set, no Xvfb) reaches the GPU
run_gl() { if [ -n "${DISPLAY:-}" ]; then "$@"; else xvfb-run -a "$@"; fi; }
if command -v glxinfo >/dev/null; then run_gl glxinfo -B | grep -E 'OpenGL (vendor|renderer|version)' || true; fi

page_gl=swiftshader
if command -v nvidia-smi >/dev/null || [ -e /dev/dri/renderD128 ]; then page_gl=gpu; fi
browser=()
if command -v chromium >/dev/null || [ -n "${CHROMIUM:-}" ]; then
  browser=(--browser --page-gl "$page_gl")
else
  echo "no Chromium (apt-get install chromium, or set CHROMIUM): the page rows are skipped"
fi

echo "## the DRAW training step on gpujs (bench/gpu.ts)"
run_gl npx tsx bench/index.ts gpu "${size[@]}" "${browser[@]}"
echo "## the compiler's kernels on every backend (bench/index.ts)"
run_gl npx tsx bench/index.ts
echo "# written to $log"
