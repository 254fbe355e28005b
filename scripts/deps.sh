#!/usr/bin/env bash
# Installs the Debian 12 packages llmrt needs to build and test, if missing.
# Safe to run again: it only calls apt-get when something is absent.
# `deps.sh fuzz` also installs clang and its libFuzzer runtime (for `make fuzz`
# only: the ordinary build and `make test` do not need them).
set -euo pipefail
pkgs=(build-essential cmake pkg-config libuv1-dev libmbedtls-dev libcjson-dev zlib1g-dev
      node-llhttp libcurl4-openssl-dev nginx openssl valgrind prometheus libpcre2-dev libhiredis-dev
      redis-server jq libzstd-dev)
# Node.js and npm (the SDK tests, tiktoken's rank files) from Debian where the machine has none.
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
if [ "${1:-}" = "fuzz" ]; then pkgs+=(clang libclang-rt-14-dev); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi
# nginx is started by the tests themselves (on loopback, in a temp dir); the
# Debian service must not hold port 80 or matter to us.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
# npm packages, pinned, into gitignored folders under the checkout:
# tiktoken's rank files (o200k_base, cl100k_base) for exact token counting
# (converted at build time, cmake/tokens.cmake) and its reference ids
# (tests/tokens/gen_reference.js).
here="$(cd "$(dirname "$0")/.." && pwd)"
npm_pkg() { # dir spec
  if [ ! -f "$here/.deps/npm/$1/node_modules/${2%@*}/package.json" ] ||
     ! grep -q "\"version\": \"${2##*@}\"" "$here/.deps/npm/$1/node_modules/${2%@*}/package.json"; then
    mkdir -p "$here/.deps/npm/$1"
    npm install --no-audit --no-fund --silent --prefix "$here/.deps/npm/$1" "$2"
  fi
}
if command -v npm >/dev/null 2>&1; then
  npm_pkg tiktoken tiktoken@1.0.22
else
  echo "deps: npm not found: token counts will be estimates (no tiktoken rank files)" >&2
fi
# The official SDKs the gateway's tests drive (tests/gateway/sdk_clients.mjs),
# pinned, in a gitignored folder of the checkout.
gw_npm="$(cd "$(dirname "$0")/.." && pwd)/.deps/npm/clients"
if [ ! -f "$gw_npm/node_modules/openai/package.json" ] ||
   [ ! -f "$gw_npm/node_modules/@anthropic-ai/sdk/package.json" ]; then
  mkdir -p "$gw_npm"
  [ -f "$gw_npm/package.json" ] || echo '{"private":true}' > "$gw_npm/package.json"
  (cd "$gw_npm" && npm install --no-audit --no-fund --silent openai@6.30.1 @anthropic-ai/sdk@1.17.0)
fi
