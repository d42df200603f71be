#!/usr/bin/env python3
"""Regenerates the seed files of the fuzz corpora (tests/fuzz/corpus/{frontend,csv}/seed_*).

Frontend seeds: every zoo model with its imports inlined (the fuzz target resolves no imports),
the std libraries alone and inside small models, and the diagnostics test files. CSV seeds: the
data test fixtures, the heads of the data sets and hand-written edge cases (quotes, BOM, CRLF).
Files the fuzzers added (SHA-1 names) are left alone.

    tests/fuzz/make_seeds.py
"""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
IMPORT = re.compile(r'^import\s+"([^"]+)"\s*;?\s*$', re.M)


def inline(path, seen=None):
    """The file's text with each import replaced by the imported file's text (once each)."""
    seen = set() if seen is None else seen
    path = path.resolve()
    seen.add(path)
    text = path.read_text()

    def sub(m):
        for base in (path.parent, ROOT / "zoo"):
            dep = (base / m.group(1)).resolve()
            if dep.is_file():
                return "" if dep in seen else inline(dep, seen)
        return m.group(0)  # unresolvable: keep the import (a DiagError seed)

    return IMPORT.sub(sub, text)


def std(name):
    return inline(ROOT / "zoo" / "std" / name)


# Small models for the std blocks no zoo model uses (attention, transformer).
MODELS = {
    "din": std("attention.rec") + """
model DIN(dim = 8) {
  input hist : ids<movie>[10]
  input target : id<movie>
  label label : binary
  emb = embedding(dim)
  mask = pad_mask(hist)
  u = din_attention(emb(hist), emb(target), mask)
  logit = sum(u * emb(target), axis = -1)
  output prob = sigmoid(logit)
  loss bce_with_logits(logit, label)
}
""",
    "transformer": std("transformer.rec") + """
model Seq(dim = 8, layers = 2) {
  input hist : ids<movie>[10]
  input target : id<movie>
  label label : binary
  emb = embedding(dim)
  pad = pad_mask(hist)
  h = encoder(add_positions(emb(hist)), key_mask(pad), layers = layers, heads = 2, ff = 16)
  logit = sum(mean(h, axis = 1) * emb(target), axis = -1) + param([])
  output prob = sigmoid(logit)
  loss bce_with_logits(logit, label)
  train { optimizer = "adam", lr = 0.01, batch = 64, epochs = 1 }
}
""",
    "minimal": """model M {
  input x : dense
  label y : binary
  logit = x * param([]) + param([])
  output p = sigmoid(logit)
  loss bce_with_logits(logit, y)
}
""",
}


def write(dirname, name, data):
    d = CORPUS / dirname
    d.mkdir(parents=True, exist_ok=True)
    (d / ("seed_" + name)).write_bytes(data if isinstance(data, bytes) else data.encode())


def frontend():
    for f in sorted((ROOT / "zoo").glob("*.rec")):
        write("frontend", "zoo_" + f.stem, inline(f))
    for f in sorted((ROOT / "zoo" / "std").glob("*.rec")):
        write("frontend", "std_" + f.stem, inline(f))
    for name, text in MODELS.items():
        write("frontend", "model_" + name, text)
    for f in sorted((ROOT / "tests" / "frontend" / "diagnostics").glob("*.rec")):
        write("frontend", "diag_" + f.stem, f.read_bytes())


def head(path, lines):
    with open(path, "rb") as f:
        return b"".join(f.readline() for _ in range(lines))


CSV_CASES = {
    "bom_crlf": b"\xef\xbb\xbfuser,movie,genres,x,label\r\nu1,m1,Action|Drama,1.5,1\r\nu2,m2,,2,0\r\n",
    "quoted_all": b'"user","movie","genres","x","label"\n"u,1","m""1","A|B"," 1 ","1"\n',
    "quoted_newline": b'user,movie,genres,x,label\nu1,"m\r\n1","A|\nB",-0.5,0\n',
    "trailing_blank": b"user,movie,genres,x,label\nu1,m1,A,1,1\n\n\r\n\n",
    "blank_middle": b"user,movie,genres,x,label\nu1,m1,A,1,1\n\nu2,m2,B,2,0\n",
    "no_newline": b"a,b,c,d,e\n1,2,3,4,1",
    "empty_cells": b"a,b,c,d,e\n,,,,\n,,1,1,0\n",
    "dense_multi": b"id,ids,x,label,side\n1,1|2|3|4|5|6|7,+1e3,1.0,1|2\n2,|||,  -2  ,0,1|2|3|4\n",
    "bad_quote": b'a,b,c,d\n"x"y,1,2,1\n',
    "duplicate_header": b"a,b,a,d\n1,2,3,1\n",
    "one_column": b"label\n1\n0\n1\n",
    "numbers": b"a,b,c,d,e\n1,2,0x10,1,nan\n3,4,1e39,0,inf|1\n",
}


def csv():
    for f in sorted((ROOT / "tests" / "data" / "files").glob("*.csv")):
        write("csv", "fixture_" + f.stem, f.read_bytes())
    write("csv", "ctr_train_head", head(ROOT / "data" / "ctr_train.csv", 12))
    write("csv", "seq_train_head", head(ROOT / "data" / "seq_train.csv", 8))
    for name, data in CSV_CASES.items():
        write("csv", "case_" + name, data)


if __name__ == "__main__":
    frontend()
    csv()
