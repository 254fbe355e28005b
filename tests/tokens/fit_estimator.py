#!/usr/bin/env python3
"""Fits the estimator's weights (lib/tokens/estimate.c) by least squares on
the output of tokens_calibrate (one line of the sample per row: file, exact
cl100k_base count, features), and prints the weights and the error per file.

usage: build/tests/tokens/tokens_calibrate tests/tokens/data/sample/*.txt | \
       python3 tests/tokens/fit_estimator.py
"""
import math
import sys

NAMES = ["word", "word_extra", "digit", "punct", "spaces", "newline", "cjk", "other", "astral"]
# Weights fixed by hand where the sample has too few cases to fit them (a
# fitted negative weight for runs of spaces would reward indentation).
FIXED = {"spaces": 0.5}
rows = []
for line in sys.stdin:
    f = line.split()
    rows.append((f[0], float(f[1]), [float(x) for x in f[2:]]))
free = [i for i, n in enumerate(NAMES) if n not in FIXED]
fit_rows = []
for name, y, x in rows:
    y -= sum(FIXED[n] * x[i] for i, n in enumerate(NAMES) if n in FIXED)
    fit_rows.append((name, y, [x[i] for i in free]))
k = len(free)
# Normal equations, with a small ridge toward 1 so unused features stay sane.
a = [[0.0] * k for _ in range(k)]
b = [0.0] * k
for _, y, x in fit_rows:
    for i in range(k):
        b[i] += x[i] * y
        for j in range(k):
            a[i][j] += x[i] * x[j]
for i in range(k):
    a[i][i] += 1.0
    b[i] += 1.0
for c in range(k):  # Gaussian elimination with partial pivoting
    p = max(range(c, k), key=lambda r: abs(a[r][c]))
    a[c], a[p], b[c], b[p] = a[p], a[c], b[p], b[c]
    for r in range(k):
        if r != c and a[c][c]:
            m = a[r][c] / a[c][c]
            a[r] = [u - m * v for u, v in zip(a[r], a[c])]
            b[r] -= m * b[c]
fitted = [round(b[i] / a[i][i], 3) for i in range(k)]
w = [FIXED.get(n, 0.0) for n in NAMES]
for j, i in enumerate(free):
    w[i] = fitted[j]
print("weights:", ", ".join(f"{n}={v}" for n, v in zip(NAMES, w)))
per = {}
for name, y, x in rows:
    est = math.ceil(sum(wi * xi for wi, xi in zip(w, x)))
    e, t = per.get(name, (0, 0))
    per[name] = (e + est, t + y)
for name, (e, t) in sorted(per.items()):
    print(f"{name}: exact {t:.0f} estimate {e} error {100 * (e - t) / t:+.1f}%")
