#!/usr/bin/env python3
"""Formats the bench/run results as one table: recc vs PyTorch per model, with ratios.

  report.py DIR MODEL...

DIR holds, per model M: M.recc.json (recc's --metrics-json), M.recc.time and M.torch.time
(`/usr/bin/time -v` output), M.torch.json (bench/pytorch/train.py's JSON line). A missing or
unreadable result prints "failed" in its cells. "wall s" is the whole process (end to end:
reading the CSVs, compiling or importing torch, training, evaluating), from /usr/bin/time.
"""
import json
import os
import re
import sys


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            lines = [l for l in f.read().splitlines() if l.strip().startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def peak_rss_mb(path):
    """Maximum resident set size from `/usr/bin/time -v` output (KiB), in MiB."""
    try:
        with open(path, encoding="utf-8") as f:
            m = re.search(r"Maximum resident set size \(kbytes\):\s*(\d+)", f.read())
        return int(m.group(1)) / 1024.0 if m else None
    except OSError:
        return None


def wall_seconds(path):
    """ "Elapsed (wall clock) time (h:mm:ss or m:ss): 1:02.35" from `/usr/bin/time -v`, in seconds."""
    try:
        with open(path, encoding="utf-8") as f:
            # The label itself has colons: the value follows the last ": ".
            m = re.search(r"Elapsed \(wall clock\) time.*:\s+([0-9:.]+)\s*$", f.read(), re.M)
    except OSError:
        return None
    if not m:
        return None
    secs = 0.0
    for part in m.group(1).split(":"):
        secs = secs * 60 + float(part)
    return secs


def exit_status(path):
    try:
        with open(path, encoding="utf-8") as f:
            m = re.search(r"Exit status:\s*(\d+)", f.read())
        return int(m.group(1)) if m else None
    except OSError:
        return None


def side(dirname, model, name):
    """The metrics of one side, or None if that run failed."""
    res = read_json(os.path.join(dirname, f"{model}.{name}.json"))
    status = exit_status(os.path.join(dirname, f"{model}.{name}.time"))
    if res is None or (status is not None and status != 0):
        return None
    rss = peak_rss_mb(os.path.join(dirname, f"{model}.{name}.time"))
    if rss is None:
        rss = res.get("peak_rss_mb")
    return {"train": res.get("train_samples_per_sec"), "infer": res.get("infer_samples_per_sec"),
            "wall": wall_seconds(os.path.join(dirname, f"{model}.{name}.time")),
            "rss": rss, "auc": res.get("auc"), "logloss": res.get("logloss")}


COLUMNS = [  # key, heading, format
    ("train", "train samples/s", "{:,.0f}"),
    ("infer", "infer samples/s", "{:,.0f}"),
    ("wall", "wall s", "{:,.1f}"),
    ("rss", "peak RSS MiB", "{:,.0f}"),
    ("auc", "test AUC", "{:.4f}"),
    ("logloss", "logloss", "{:.4f}"),
]


def cell(v, fmt):
    return "failed" if v is None else fmt.format(v)


def ratio(a, b):
    if a is None or b is None or not b:
        return "-"
    return f"{a / b:.2f}x"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    dirname, models = sys.argv[1], sys.argv[2:]
    header = ["model", "run"] + [heading for _, heading, _ in COLUMNS]
    rows = []
    for m in models:
        r, t = side(dirname, m, "recc"), side(dirname, m, "torch")
        get = lambda s, k: s[k] if s else None  # noqa: E731
        rows.append([m, "recc"] + [cell(get(r, k), f) for k, _, f in COLUMNS])
        rows.append(["", "PyTorch"] + [cell(get(t, k), f) for k, _, f in COLUMNS])
        rows.append(["", "recc/PyTorch"] + [ratio(get(r, k), get(t, k)) for k, _, _ in COLUMNS])
    widths = [max(len(x[i]) for x in [header] + rows) for i in range(len(header))]

    def line(cells):
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    print(line(header))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))


if __name__ == "__main__":
    main()
