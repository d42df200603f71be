#!/usr/bin/env python3
"""Formats the bench/run results as one table: recc vs PyTorch per model, with ratios.

  report.py DIR "SEED..." MODEL...

DIR holds, per model M and seed S: M.sS.recc.json (recc's --metrics-json), M.sS.recc.time and
M.sS.torch.time (`/usr/bin/time -v` output), M.sS.torch.json (bench/pytorch/train.py's JSON
line). Over the seeds: throughput and wall time are medians, peak RSS the maximum, AUC and
logloss means (the AUC with its standard deviation over seeds); a side fails if any of its runs
did, and then prints "failed" in its cells. "wall s" is the whole process (end to end: reading
the CSVs, compiling or importing torch, training, evaluating), from /usr/bin/time. The last row
of a model gives recc/PyTorch ratios, and for AUC and logloss the difference recc - PyTorch.
"""
import json
import os
import re
import statistics
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


def run(dirname, prefix, name):
    """The metrics of one run, or None if it failed."""
    res = read_json(os.path.join(dirname, f"{prefix}.{name}.json"))
    status = exit_status(os.path.join(dirname, f"{prefix}.{name}.time"))
    if res is None or (status is not None and status != 0):
        return None
    rss = peak_rss_mb(os.path.join(dirname, f"{prefix}.{name}.time"))
    if rss is None:
        rss = res.get("peak_rss_mb")
    return {"train": res.get("train_samples_per_sec"), "infer": res.get("infer_samples_per_sec"),
            "wall": wall_seconds(os.path.join(dirname, f"{prefix}.{name}.time")),
            "rss": rss, "auc": res.get("auc"), "logloss": res.get("logloss")}


# How each column combines the runs of the seeds.
COMBINE = {"train": statistics.median, "infer": statistics.median, "wall": statistics.median,
           "rss": max, "auc": statistics.mean, "logloss": statistics.mean}


def side(dirname, model, seeds, name):
    """One side's metrics over the seeds (plus "auc_sd"), or None if any of its runs failed."""
    runs = [run(dirname, f"{model}.s{s}", name) for s in seeds]
    if any(r is None for r in runs):
        return None
    out = {}
    for k, combine in COMBINE.items():
        vals = [r[k] for r in runs]
        out[k] = None if any(v is None for v in vals) else combine(vals)
    aucs = [r["auc"] for r in runs]
    out["auc_sd"] = statistics.stdev(aucs) if len(aucs) > 1 and None not in aucs else None
    return out


COLUMNS = [  # key, heading, format, how the last row compares the sides
    ("train", "train samples/s", "{:,.0f}", "ratio"),
    ("infer", "infer samples/s", "{:,.0f}", "ratio"),
    ("wall", "wall s", "{:,.1f}", "ratio"),
    ("rss", "peak RSS MiB", "{:,.0f}", "ratio"),
    ("auc", "test AUC", "{:.4f}", "diff"),
    ("logloss", "logloss", "{:.4f}", "diff"),
]


def cell(s, key, fmt):
    if s is None or s[key] is None:
        return "failed"
    text = fmt.format(s[key])
    if key == "auc" and s.get("auc_sd") is not None:
        text += f" \u00b1{s['auc_sd']:.4f}"
    return text


def compare(r, t, key, how):
    a, b = (r[key] if r else None), (t[key] if t else None)
    if a is None or b is None:
        return "-"
    if how == "diff":
        return f"{a - b:+.4f}"
    return f"{a / b:.2f}x" if b else "-"


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    dirname, seeds, models = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
    header = ["model", "run"] + [heading for _, heading, _, _ in COLUMNS]
    rows = []
    for m in models:
        r, t = side(dirname, m, seeds, "recc"), side(dirname, m, seeds, "torch")
        rows.append([m, "recc"] + [cell(r, k, f) for k, _, f, _ in COLUMNS])
        rows.append(["", "PyTorch"] + [cell(t, k, f) for k, _, f, _ in COLUMNS])
        rows.append(["", "recc/PyTorch"] + [compare(r, t, k, how) for k, _, _, how in COLUMNS])
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
