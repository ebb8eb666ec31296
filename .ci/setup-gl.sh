#!/usr/bin/env bash
# Makes gpu.js's optional native dependency `gl` (headless-gl 8.1.6) usable on Debian.
#
#   .ci/setup-gl.sh --deps-only   BEFORE `npm ci`: installs the apt packages gl's
#                                 install script needs, so `npm ci` compiles it.
#   .ci/setup-gl.sh               AFTER `npm ci`: same apt step, then makes sure
#                                 node_modules/gl/build/Release/webgl.node exists
#                                 and loads (rebuilds it if not); exits non-zero
#                                 if it cannot.
#
# Why: gl is an optional dependency. No prebuilt binary can be downloaded here
# (github.com is unreachable), so its install script compiles ANGLE from source
# with node-gyp. That needs pkg-config to find x11, xi and xext. If the build
# fails, npm says nothing, exits 0 and deletes node_modules/gl, and gpu.js then
# quietly uses its WebAssembly or CPU kernels.
# Running kernels needs an X display too: use `xvfb-run -a <command>`.
set -euo pipefail
cd "$(dirname "$0")/.."

GL_VERSION=8.1.6
GL_NODE=node_modules/gl/build/Release/webgl.node
# build: compiler, python for gyp, pkg-config + X11 dev headers (libxi-dev is the one
# usually missing). run: xvfb/xauth for a display, Mesa GLX + swrast/llvmpipe for libGL.so.1.
APT_PACKAGES=(build-essential python3 pkgconf libx11-dev libxi-dev libxext-dev
              xvfb xauth libgl1 libglx-mesa0 libgl1-mesa-dri)

log() { echo "[setup-gl] $*" >&2; }
die() { echo "[setup-gl] ERROR: $*" >&2; exit 1; }

install_apt() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then log "apt packages already installed"; return; fi
  log "installing apt packages: ${missing[*]}"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  local aptlog; aptlog="$(mktemp)"
  if ! { $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
         $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$aptlog" 2>&1; then
    cat "$aptlog" >&2; rm -f "$aptlog"; die "apt-get failed installing: ${missing[*]}"
  fi
  rm -f "$aptlog"
}

# node-gyp must not try to download Node headers (no route to nodejs.org); use the
# headers that Debian/NodeSource's nodejs installs under /usr/include/node.
setup_build_env() {
  local nd; nd="$(npm config get nodedir 2>/dev/null || true)"
  if { [ -z "$nd" ] || [ "$nd" = "undefined" ] || [ "$nd" = "null" ]; } && [ -f /usr/include/node/common.gypi ]; then
    export npm_config_nodedir=/usr
  fi
  export JOBS="${JOBS:-max}"   # node-gyp parallel make: ~2.7 min instead of ~5.5 min on 2 cores
}

gl_loads() {
  [ -f "$GL_NODE" ] && node -e 'require("gl")' >/dev/null 2>&1
}

ensure_gl() {
  if gl_loads; then log "gl $GL_VERSION native module OK ($GL_NODE)"; return; fi
  setup_build_env
  if [ -f node_modules/gl/package.json ]; then
    log "gl present but $GL_NODE missing or not loadable: npm rebuild gl (a few minutes)"
    npm rebuild gl --foreground-scripts || die "npm rebuild gl failed (see output above)"
  else
    # npm removes a failed optional dependency (and its deps); add them back from the
    # lockfile without wiping node_modules and without touching package*.json.
    [ -d node_modules ] || die "node_modules missing: run 'npm ci' first"
    log "node_modules/gl missing (its build failed during npm ci?): npm install --no-save (a few minutes)"
    npm install --no-save --foreground-scripts || die "npm install --no-save failed"
  fi
  [ -f "$GL_NODE" ] || die "gl build produced no $GL_NODE; the install script's output above says why"
  local v; v="$(node -p 'require("gl/package.json").version')"
  [ "$v" = "$GL_VERSION" ] || die "node_modules/gl is $v, expected $GL_VERSION"
  node -e 'require("gl")' || die "$GL_NODE exists but require(\"gl\") fails"
  log "gl $GL_VERSION built: $GL_NODE"
}

case "${1:-}" in
  --deps-only) install_apt ;;
  "") install_apt; ensure_gl ;;
  *) die "usage: $0 [--deps-only]" ;;
esac
