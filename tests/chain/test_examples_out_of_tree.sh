#!/bin/sh
# Installs llmrt into a scratch prefix, builds every examples/plugins/* out
# of tree against it (with its CMakeLists.txt through find_package(llmrt),
# and by hand with pkg-config), then loads each with a program built against
# the installed library: by path, by name through LLMRT_PLUGIN_PATH, and
# from the install's plugin directory.
#
# usage: test_examples_out_of_tree.sh SOURCE_DIR BUILD_DIR CC plain|sanitize
set -eu
src=$1
build=$2
cc=$3
mode=$4
flags=""
if [ "$mode" = sanitize ]; then
  flags="-fsanitize=address,undefined -fno-omit-frame-pointer"
  # The installed library is instrumented: so must the loader be, and
  # leaks in it count.
  export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=1"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmrt-oot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

step() { echo "== $*"; }

step "install $build into $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log"
  exit 1
}
pcfile=$(find "$prefix" -name llmrt.pc | head -n 1)
test -n "$pcfile" || { echo "no llmrt.pc installed"; exit 1; }
libdir=$(dirname "$(dirname "$pcfile")")
plugindir=$libdir/llmrt/plugins
mkdir -p "$plugindir"
# llmrt.pc names the configured prefix; point it at the scratch one.
pc() { PKG_CONFIG_PATH="$(dirname "$pcfile")" pkg-config --define-variable=prefix="$prefix" "$@"; }

examples=""
for dir in "$src"/examples/plugins/*/; do
  name=$(basename "$dir")
  test -f "$dir/CMakeLists.txt" || continue
  examples="$examples $name"

  step "$name: cmake, find_package(llmrt)"
  cmake -S "$dir" -B "$tmp/cmake-$name" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$flags -Werror" >"$tmp/cfg-$name.log" 2>&1 || {
    cat "$tmp/cfg-$name.log"
    exit 1
  }
  cmake --build "$tmp/cmake-$name" >"$tmp/build-$name.log" 2>&1 || {
    cat "$tmp/build-$name.log"
    exit 1
  }
  test -f "$tmp/cmake-$name/$name.so"
  # Into the install's plugin directory, as its CMakeLists.txt says.
  cmake --install "$tmp/cmake-$name" >/dev/null
  test -f "$plugindir/$name.so" || { echo "$name.so not installed in $plugindir"; exit 1; }
  # A plugin needs nothing from the host binary: it must not link libllmrt.
  if readelf -d "$tmp/cmake-$name/$name.so" | grep NEEDED | grep -q llmrt; then
    echo "$name.so links libllmrt"
    exit 1
  fi

  step "$name: pkg-config + cc"
  mkdir -p "$tmp/pc"
  extra=""
  grep -q cjson "$dir/$name.c" && extra=$(pkg-config --libs libcjson)
  # shellcheck disable=SC2046,SC2086
  "$cc" $flags -std=c11 -Wall -Wextra -Wno-unused-parameter -Werror -shared -fPIC \
    -fvisibility=hidden $(pc --cflags llmrt) "$dir/$name.c" -o "$tmp/pc/$name.so" $extra
done
test -n "$examples" || { echo "no examples found"; exit 1; }

step "loader against the installed library"
# gnu11: llmrt.h includes uv.h, whose pthread types strict C11 hides.
# shellcheck disable=SC2046,SC2086
"$cc" $flags -std=gnu11 -Wall -Werror "$src/tests/chain/plugins/load_plugins.c" \
  -o "$tmp/load_plugins" $(pc --cflags --libs llmrt)
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
load() { "$tmp/load_plugins" "$@"; }

cfg_of() {
  case $1 in
  system_prompt) echo '"text":"Answer briefly."' ;;
  redact) echo '"literal":["secret"],"digits":6' ;;
  *) echo '"x":1' ;;
  esac
}

for name in $examples; do
  c=$(cfg_of "$name")
  load "{\"plugins\":[{\"name\":\"$tmp/cmake-$name/$name.so\",$c}]}" ok
  load "{\"plugins\":[{\"name\":\"$tmp/pc/$name.so\",$c},{\"name\":\"$tmp/pc/$name.so\",$c}]}" ok
  LLMRT_PLUGIN_PATH="$tmp/nowhere:$tmp/pc" load "{\"plugins\":[{\"name\":\"$name\",$c}]}" ok
  # From the installed plugin directory by name: only if the library was
  # configured with this prefix, which a scratch install is not; so by path.
  load "{\"plugins\":[{\"name\":\"$plugindir/$name.so\",$c}]}" ok
done
case " $examples " in
*" redact "*)
  load "{\"plugins\":[{\"name\":\"$tmp/pc/redact.so\"}]}" "plugin $tmp/pc/redact.so: nothing to redact"
  ;;
esac
case " $examples " in
*" system_prompt "*)
  load "{\"plugins\":[{\"name\":\"$tmp/pc/system_prompt.so\",\"text\":3}]}" '"text" must be a non-empty string'
  ;;
esac
step "a plugin built against a newer header (a field added to llmrt_request_t)"
mkdir -p "$tmp/newer"
cp -r "$(pc --variable=includedir llmrt)/llmrt" "$tmp/newer/"
sed -i 's/^} llmrt_request_t;$/  int64_t future_field; \/* added by a newer llmrt *\/\n&/' "$tmp/newer/llmrt/types.h"
grep -q future_field "$tmp/newer/llmrt/types.h" || { echo "could not make the newer header"; exit 1; }
# shellcheck disable=SC2086
"$cc" $flags -std=c11 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden -I"$tmp/newer" \
  "$src/tests/chain/plugins/newer_header.c" -o "$tmp/newer_header.so"
# shellcheck disable=SC2046,SC2086
"$cc" $flags -std=gnu11 -Wall -Werror "$src/tests/chain/plugins/call_plugin.c" \
  -o "$tmp/call_plugin" $(pc --cflags --libs llmrt)
"$tmp/call_plugin" "$tmp/newer_header.so" "newer header ok"
step "ok:$examples"
