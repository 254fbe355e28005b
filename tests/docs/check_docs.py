#!/usr/bin/env python3
"""The documentation test (ctest label "docs"): the docs say what the code is.

1. Every C block marked as complete is compiled (and linked) against the
   headers in include/ and the built library:
     ```c program   a whole program: compiled, linked with libllmrt (not run:
                    it may call a real API)
     ```c plugin    a whole plugin: compiled as a shared object against
                    include/ alone and linked with -Wl,--no-undefined (a
                    plugin needs no symbol from the host)
   Any other ```c block is a fragment. Fragments are listed, not compiled:
   nothing is skipped silently. The marker is documented in
   docs/architecture.md ("Documentation").

2. Every llmrt_* / LLMRT_* name the docs mention exists in the public
   headers: the header text (comments included), plus what the preprocessor
   makes of them (macros, and enum values such as LLMRT_ENOMEM, which the
   LLMRT_ERRNO_MAP X-macro generates). A name followed by '*' (LLMRT_E*) is a
   prefix. Names that are not C identifiers of the API (environment
   variables, metric names, CMake names) are in EXCEPTIONS below, each with
   the file that must define it, so an exception cannot go stale unnoticed.
   Internal names (llmrt__*, LLMRT__*), which docs/architecture.md uses, are
   checked against the sources in lib/ instead.

Files: README.md and docs/*.md by default; a list of files as arguments or
in LLMRT_DOCS_FILES (space-separated, relative to the source tree) checks
those instead.

usage: check_docs.py --src DIR --cc CC --lib LIBLLMRT.so [--libs "-luv"]
                     [--plugin-libs "-lcjson"] [--work DIR] [FILE...]
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

# name -> (file in the source tree that must contain it, why it is not in include/)
EXCEPTIONS = {
    "LLMRT_PLUGIN_PATH": ("lib/chain/plugin.c", "environment variable"),
    "llmrt_retries_total": ("plugins/retry/retry.c", "metric of the retry plugin"),
    "llmrt_retries_exhausted_total": ("plugins/retry/retry.c", "metric of the retry plugin"),
    "llmrt_retry_budget_refused_total": ("plugins/retry/retry.c", "metric of the retry plugin"),
    "llmrt_retry_delay_seconds": ("plugins/retry/retry.c", "metric of the retry plugin"),
    "llmrt_route_fallbacks_total": ("plugins/route/route.c", "metric of the route plugin"),
    "llmrt_route_picks_total": ("plugins/route/route.c", "metric of the route plugin"),
    "llmrt_route_latency_ewma_ms": ("plugins/route/route.c", "metric of the route plugin"),
    "llmrt_breaker_state": ("plugins/breaker/breaker.c", "metric of the breaker plugin"),
    "llmrt_breaker_transitions_total": ("plugins/breaker/breaker.c", "metric of the breaker plugin"),
    "llmrt_breaker_rejected_total": ("plugins/breaker/breaker.c", "metric of the breaker plugin"),
    "llmrt_example_tokens_total": ("examples/plugins/count_tokens/count_tokens.c",
                                   "metric of an example plugin"),
    "llmrt_cache_hits_total": (None, "an illustrative metric name in docs/plugins.md"),
    "llmrt_trim_tokens_removed_total": (None, "an attribute's metric named in docs/metrics.md"),
    "llmrt_limits_wait_seconds": (None, "an attribute's metric named in docs/metrics.md"),
    "llmrt_PLUGIN_DIR": ("cmake/llmrtConfig.cmake.in", "CMake package variable"),
    "llmrt_shared": ("CMakeLists.txt", "CMake target (llmrt::llmrt_shared)"),
    "llmrt_core": ("CMakeLists.txt", "CMake target of a layer"),
    "llmrt_transport": ("CMakeLists.txt", "CMake target of a layer"),
    "llmrt_http": ("CMakeLists.txt", "CMake target of a layer"),
    "llmrt_llm": ("CMakeLists.txt", "CMake target of a layer"),
    "llmrt_chain": ("CMakeLists.txt", "CMake target of a layer"),
    "llmrt_mock": ("CMakeLists.txt", "CMake target of the mock upstream"),
    "llmrt_static": ("CMakeLists.txt", "CMake target (llmrt::llmrt_static)"),
    "llmrt_mock_start": ("tools/mock/llmrt_mock.h", "the mock's installed header"),
    "llmrt_mock_url": ("tools/mock/llmrt_mock.h", "the mock's installed header"),
    "llmrt_tokens": ("CMakeLists.txt", "CMake target of a layer"),
    "llmrt_rankgen": ("cmake/tokens.cmake", "build-time converter of the rank files"),
    "LLMRT_TIKTOKEN_DIR": ("cmake/tokens.cmake", "CMake cache variable"),
    "llmrt_trim_calls_total": ("plugins/trim/trim.c", "metric of the trim plugin"),
    "llmrt_trim_tokens_removed_total": ("plugins/trim/trim.c", "metric of the trim plugin"),
    "llmrt_trim_messages_dropped_total": ("plugins/trim/trim.c", "metric of the trim plugin"),
    "llmrt_trim_refused_total": ("plugins/trim/trim.c", "metric of the trim plugin"),
    "llmrt_gateway_requests_total": ("tools/gateway/gw_server.c", "metric of the gateway"),
    "llmrt_gateway_calls_total": ("tools/gateway/gw_server.c", "metric of the gateway"),
    "llmrt_gateway_client_cancels_total": ("tools/gateway/gw_server.c", "metric of the gateway"),
    "llmrt_gateway_rejected_total": ("tools/gateway/gw_server.c", "metric of the gateway"),
    "llmrt_gateway_backpressure_pauses_total": ("tools/gateway/gw_server.c",
                                                "metric of the gateway"),
    "llmrt_gateway_in_flight_calls": ("tools/gateway/gw_server.c", "metric of the gateway"),
    "llmrt_gateway_access_log_dropped_total": ("tools/gateway/gw_server.c",
                                               "metric of the gateway"),
    "llmrt_gateway_overhead_seconds": ("tools/gateway/gw_server.c", "metric of the gateway"),
}

NAME_RE = re.compile(r"\b(?:llmrt|LLMRT)_[A-Za-z0-9_]*\*?")
FENCE_RE = re.compile(r"^(\s*)(```+|~~~+)\s*(.*)$")


def blocks(path):
    """Yields (first line number, info string, text) of each fenced block."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info, start = m.group(2), m.group(3).strip(), i + 1
        i += 1
        body = []
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        i += 1
        yield start, info, "\n".join(body) + "\n"


def api_names(src, cc):
    inc = os.path.join(src, "include")
    text = ""
    for h in glob.glob(os.path.join(inc, "**", "*.h"), recursive=True):
        with open(h, encoding="utf-8") as f:
            text += f.read()
    with tempfile.NamedTemporaryFile("w", suffix=".c", delete=False) as t:
        t.write("#include <llmrt.h>\n")
        probe = t.name
    try:
        for flags in (["-E"], ["-E", "-dM"]):
            text += subprocess.run([cc, "-D_GNU_SOURCE", "-I", inc] + flags + [probe],
                                   check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(probe)
    return set(re.findall(r"\b(?:llmrt|LLMRT)_[A-Za-z0-9_]*", text))


def internal_names(src):
    text = ""
    for f in glob.glob(os.path.join(src, "lib", "**", "*.[ch]"), recursive=True):
        with open(f, encoding="utf-8") as fh:
            text += fh.read()
    return set(re.findall(r"\b(?:llmrt|LLMRT)__[A-Za-z0-9_]*", text))


def metric_names(src):
    """Metric names the runtime and the built-in plugins define: string
    literals in lib/chain/metrics*.[ch] and plugins/*/*.c that name a metric
    ("llmrt.client.attempts", "llmrt_http_connections_open"), as the
    exposition writes them (dots as underscores) and with the suffixes it
    adds (_total, _seconds, _tokens, _bucket, _sum, _count)."""
    found = set()
    files = glob.glob(os.path.join(src, "lib", "chain", "metrics*.[ch]"))
    files += glob.glob(os.path.join(src, "plugins", "*", "*.c"))
    for f in files:
        with open(f, encoding="utf-8") as fh:
            for lit in re.findall(r'"(llmrt[._][a-z0-9_.]*)"', fh.read()):
                base = lit.replace(".", "_")
                for a in ("", "_total", "_seconds", "_tokens", "_seconds_total"):
                    for b in ("", "_bucket", "_sum", "_count"):
                        found.add(base + a + b)
    return found


def check_names(src, files, names):
    internal = internal_names(src)
    metrics = metric_names(src)
    bad = []
    for path in files:
        with open(os.path.join(src, path), encoding="utf-8") as f:
            for ln, line in enumerate(f, 1):
                for n in NAME_RE.findall(line):
                    if n.endswith("*") or n.endswith("_"):
                        prefix = n.rstrip("*")
                        if any(x.startswith(prefix) and x != prefix for x in names | internal):
                            continue
                    elif n in names:
                        continue
                    elif n.lower().startswith("llmrt__"):
                        if n in internal:
                            continue
                        bad.append(f"{path}:{ln}: {n} is not in lib/ (internal name)")
                        continue
                    elif n in EXCEPTIONS or n in metrics:
                        continue
                    bad.append(f"{path}:{ln}: {n} is not in include/ (nor an exception)")
    for n, (where, why) in EXCEPTIONS.items():
        if where is None:
            continue
        with open(os.path.join(src, where), encoding="utf-8") as f:
            if n not in f.read():
                bad.append(f"exception {n} ({why}): not found in {where} any more")
    return bad


def compile_block(args, path, line, kind, code, work):
    base = os.path.join(work, re.sub(r"[^A-Za-z0-9]+", "_", f"{path}_{line}"))
    with open(base + ".c", "w", encoding="utf-8") as f:
        f.write(f'#line {line + 1} "{path}"\n' + code)
    inc = os.path.join(args.src, "include")
    warn = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror"]
    if kind == "program":
        cmd = [args.cc] + warn + ["-I", inc, base + ".c", "-o", base, args.lib]
        cmd += args.libs.split() + ["-Wl,-rpath," + os.path.dirname(os.path.abspath(args.lib))]
    else:
        cmd = [args.cc] + warn + ["-fPIC", "-shared", "-Wl,--no-undefined", "-I", inc,
                                  base + ".c", "-o", base + ".so"] + args.plugin_libs.split()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        return [f"{path}:{line}: the ```c {kind} block does not build:\n{r.stderr.rstrip()}"]
    return []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--cc", default="cc")
    ap.add_argument("--lib", required=True, help="the built shared library (libllmrt.so)")
    ap.add_argument("--libs", default="-luv", help="what a program links besides libllmrt")
    ap.add_argument("--plugin-libs", default="-lcjson", help="what a plugin may link")
    ap.add_argument("--work", default=None, help="directory for the compiled blocks")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()

    files = args.files or os.environ.get("LLMRT_DOCS_FILES", "").split()
    if not files:
        files = ["README.md"] + sorted(os.path.relpath(p, args.src) for p in
                                       glob.glob(os.path.join(args.src, "docs", "*.md")))
    work = args.work or tempfile.mkdtemp(prefix="llmrt-docs-")
    os.makedirs(work, exist_ok=True)

    failures = check_names(args.src, files, api_names(args.src, args.cc))
    compiled = fragments = 0
    for path in files:
        for line, info, code in blocks(os.path.join(args.src, path)):
            words = info.split()
            if not words or words[0] != "c":
                continue
            kind = words[1] if len(words) > 1 else None
            if kind in ("program", "plugin"):
                compiled += 1
                failures += compile_block(args, path, line, kind, code, work)
            else:
                fragments += 1
                print(f"fragment (not compiled): {path}:{line}")
    print(f"docs: {len(files)} files ({' '.join(files)}); {compiled} complete C blocks built, "
          f"{fragments} fragments listed")
    for f in failures:
        print("FAIL: " + f)
    if failures:
        print(f"docs: {len(failures)} failures")
        return 1
    print("docs: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
