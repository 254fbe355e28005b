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
  load "{\"plugins\":[{\"name\":\"$plugindir/$name.so\",$c}]}" ok
  # By name from the install's plugin directory: this scratch install is not
  # where the library was configured to go, and the shared library finds
  # the plugin directory next to itself.
  env -u LLMRT_PLUGIN_PATH "$tmp/load_plugins" "{\"plugins\":[{\"name\":\"$name\",$c}]}" ok
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
# At the end of the struct, after every field the runtime has.
sed -i 's/^} llmrt_request_t;$/  int64_t future_field; \/* added by a newer llmrt *\/\n&/' "$tmp/newer/llmrt/types.h"
grep -q future_field "$tmp/newer/llmrt/types.h" || { echo "could not make the newer header"; exit 1; }
# shellcheck disable=SC2086
"$cc" $flags -std=c11 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden -I"$tmp/newer" \
  "$src/tests/chain/plugins/newer_header.c" -o "$tmp/newer_header.so"
# shellcheck disable=SC2046,SC2086
"$cc" $flags -std=gnu11 -Wall -Werror "$src/tests/chain/plugins/call_plugin.c" \
  -o "$tmp/call_plugin" $(pc --cflags --libs llmrt)
"$tmp/call_plugin" "$tmp/newer_header.so" "newer header ok"

# ---- Linking applications: static and shared, CMake and pkg-config --------
app=$src/tests/chain/install
no_llmrt_needed() {
  if readelf -d "$1" | grep NEEDED | grep -q llmrt; then
    echo "$1 needs a shared libllmrt: not a static link"
    readelf -d "$1" | grep NEEDED
    exit 1
  fi
}
for link in static shared; do
  step "an application with the mock, CMake, llmrt::$([ $link = static ] && echo "llmrt_static + llmrt::mock_static" || echo "llmrt + llmrt::mock")"
  cmake -S "$app" -B "$tmp/app-$link" -DCMAKE_PREFIX_PATH="$prefix" -DLLMRT_APP_LINK=$link \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$flags -Wall -Werror" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags" >"$tmp/app-$link.log" 2>&1 &&
    cmake --build "$tmp/app-$link" >>"$tmp/app-$link.log" 2>&1 || {
    cat "$tmp/app-$link.log"
    exit 1
  }
  [ $link = static ] && no_llmrt_needed "$tmp/app-$link/mock_app"
  "$tmp/app-$link/mock_app"
done

step "an application with the mock, pkg-config llmrt-mock (shared)"
# shellcheck disable=SC2046,SC2086
"$cc" $flags -std=gnu11 -Wall -Werror "$app/mock_app.c" -o "$tmp/mock_app_pc" \
  $(pc --cflags --libs llmrt-mock)
"$tmp/mock_app_pc"

step "pkg-config --static: a static link (an install without the shared libraries)"
cp -a "$prefix" "$tmp/static-prefix"
rm -f "$tmp/static-prefix/${libdir#"$prefix"/}"/libllmrt*.so*
spc() {
  PKG_CONFIG_PATH="$(dirname "$tmp/static-prefix/${pcfile#"$prefix"/}")" \
    pkg-config --define-variable=prefix="$tmp/static-prefix" "$@"
}
# shellcheck disable=SC2046,SC2086
"$cc" $flags -std=gnu11 -Wall -Werror "$app/mock_app.c" -o "$tmp/mock_app_static" \
  $(spc --static --cflags --libs llmrt-mock)
no_llmrt_needed "$tmp/mock_app_static"
env -u LD_LIBRARY_PATH "$tmp/mock_app_static"

step "the installed library never searches the build tree for plugins"
for f in "$libdir"/libllmrt*; do
  if grep -aq "$build/plugins" "$f"; then
    echo "$f names the build tree's plugin directory ($build/plugins)"
    exit 1
  fi
done
msg=$(env -u LLMRT_PLUGIN_PATH "$tmp/load_plugins" '{"plugins":[{"name":"not_built_in"}]}' \
  "no not_built_in.so in LLMRT_PLUGIN_PATH (unset) or /" 2>&1) || {
  echo "$msg"
  exit 1
}
case $msg in
*"$build"*) echo "the loader looked in the build tree: $msg"; exit 1 ;;
*"or $plugindir"*) ;;
*) echo "the loader did not look next to the installed library ($plugindir): $msg"; exit 1 ;;
esac

step "ok:$examples"
