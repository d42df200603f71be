#!/usr/bin/env python3
"""Trains and evaluates one zoo model in PyTorch, the way `recc train` does, and prints one
JSON line: model, auc, logloss, train_samples_per_sec, infer_samples_per_sec, peak_rss_mb.

  train.py MODEL --train data/ctr_train.csv --test data/ctr_test.csv [--rec zoo/MODEL.rec]
           [--threads N] [--seed 42] [--epochs N] [--batch N] [--lr X] [--weight-decay X]
           [--set name=value]...

(the sequence models -- din, dien, bst, rnn, ... -- read data/seq_train.csv / seq_test.csv;
models.data_split(MODEL) says which). Hyperparameters come from the model's .rec file when given
(the `model X(dim = .., hidden = [..])` header and the `train { }` block), then from the
command line (--set overrides a header value, like recc's --set), else the model class's
defaults; the .rec's inputs must be the ones the PyTorch model reads (models.INPUTS).

What matches recc:
- Encoding: per vocabulary, index 0 = padding, 1 = out-of-vocabulary, training tokens 2, 3, ...
  in order of first appearance, column by column in the order the inputs are declared (the
  history's movies, then the target's: one "movie" vocabulary); ids<v>[L] cells split on '|'
  (empty parts skipped), truncated to L before encoding, padded on the right with 0; dense[L]
  cells ('|'-separated numbers) padded with 0.0; year is categorical; an empty id cell is OOV;
  test ids unseen in training -> 1.
- Training: a seeded shuffle per epoch (seed + epoch; a different generator than recc's, so
  not the same order), batches in that order with the last one partial, mean BCE with logits
  plus the weighted auxiliary loss of the models that have one (training only), AdamW/Adam/SGD
  with PyTorch's betas and eps, dense embedding gradients.
- Throughput: the training step only (forward, backward, optimizer update) with the batch
  already gathered into tensors, summed over every epoch after the first; inference: the
  forward pass over the test set in file order at the eval batch, without autograd, scored
  after every epoch like recc does, the last pass reported.
- Metrics: ROC AUC and log loss (probabilities clipped to [1e-7, 1 - 1e-7], like recc).
"""
import argparse
import csv
import inspect
import json
import os
import re
import resource
import sys
import time

import numpy as np
import torch
from sklearn.metrics import log_loss, roc_auc_score

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import INPUTS, MODELS  # noqa: E402

EPS = 1e-7


class Vocab:
    def __init__(self):
        self.index = {}

    def size(self):
        return 2 + len(self.index)

    def encode(self, tok, grow):
        i = self.index.get(tok)
        if i is None and grow:
            i = self.index[tok] = 2 + len(self.index)
        return 1 if i is None else i


def encode_csv(path, inputs, vocabs, grow):
    """CSV -> dict of tensors (one per input: LongTensor ids, FloatTensor dense) and the float
    label tensor. Like recc, column by column in the order the inputs are declared, so a
    vocabulary shared by two columns (hist_items, target_item: "movie") numbers the first
    column's tokens first."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    data = {}
    for name, (kind, vocab, length) in inputs.items():
        cells = [row[name] for row in rows]
        if kind == "id":  # an empty id cell is out-of-vocabulary, not padding
            v = vocabs.setdefault(vocab, Vocab())
            data[name] = torch.tensor([v.encode(c, grow) if c else 1 for c in cells], dtype=torch.long)
        elif kind == "ids":  # '|'-split, empty parts skipped, truncated (before encoding) / 0-padded
            v = vocabs.setdefault(vocab, Vocab())
            out = []
            for c in cells:
                ids = [v.encode(t, grow) for t in [t for t in c.split("|") if t][:length]]
                out.append(ids + [0] * (length - len(ids)))
            data[name] = torch.tensor(out, dtype=torch.long)
        elif kind == "dense":
            if not length:
                data[name] = torch.tensor([float(c) for c in cells], dtype=torch.float32)
                continue
            out = []  # dense[n]: up to n '|'-separated numbers, 0-padded / truncated
            for c in cells:
                xs = [float(t) for t in c.split("|")][:length] if c else []
                out.append(xs + [0.0] * (length - len(xs)))
            data[name] = torch.tensor(out, dtype=torch.float32)
        else:
            raise SystemExit(f"input {name}: kind {kind!r} not supported")
    labels = []
    for row in rows:
        label = float(row["label"])
        if label not in (0.0, 1.0):
            raise SystemExit(f"{path}: label {row['label']!r} is not 0 or 1")
        labels.append(label)
    return data, torch.tensor(labels, dtype=torch.float32)


def literal(v):
    """A .rec default: JSON numbers, strings and lists, else a name (dice, rnn_cell) as a string."""
    try:
        return json.loads(v)
    except ValueError:
        return v


def rec_settings(path):
    """From a .rec file: the model header's defaults (dict), the train block (dict), and the
    declared inputs in order ({name: (kind, vocab, length)})."""
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"#[^\n]*", "", text)
    header, train = {}, {}
    m = re.search(r"\bmodel\s+\w+\s*\(([^)]*)\)", text)
    if m:
        for k, v in re.findall(r"(\w+)\s*=\s*(\[[^\]]*\]|[^,\s]+)", m.group(1)):
            header[k] = literal(v)
    m = re.search(r"\btrain\s*\{([^}]*)\}", text)
    if m:
        for k, v in re.findall(r"(\w+)\s*=\s*(\"[^\"]*\"|[^,\s]+)", m.group(1)):
            train[k] = literal(v)
    inputs = {}
    for name, kind, vocab, length in re.findall(
            r"\binput\s+(\w+)\s*:\s*(ids|id|dense)\s*(?:<\s*(\w+)\s*>)?\s*(?:\[\s*(\d+)\s*\])?", text):
        inputs[name] = (kind, vocab or None, int(length or 0))
    return header, train, inputs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", choices=sorted(MODELS))
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--rec", help="the zoo .rec file to take hyperparameters from")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    ap.add_argument("--seed", type=int)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--eval-batch", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--weight-decay", type=float)
    ap.add_argument("--optimizer", choices=("adamw", "adam", "sgd"))
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a hyperparameter of the model header (dim=32)")
    args = ap.parse_args()

    cls = MODELS[args.model]
    # The inputs in declaration order (the order recc grows the vocabularies in).
    inputs = {k: INPUTS[k] for k in cls.inputs}
    cfg = {"optimizer": "adamw", "lr": 1e-3, "batch": 1024, "epochs": 3, "eval_batch": 4096,
           "seed": 42}
    hyper = {}
    accepted = inspect.signature(cls.__init__).parameters
    if args.rec:
        hyper, settings, declared = rec_settings(args.rec)
        cfg.update(settings)
        unknown = sorted(set(hyper) - set(accepted))
        if unknown:
            raise SystemExit(f"{args.rec}: hyperparameter(s) {', '.join(unknown)} not in the PyTorch {args.model}")
        if set(declared) != set(inputs) or any(declared[k] != inputs[k] for k in inputs):
            raise SystemExit(f"{args.rec} declares the inputs {declared}; the PyTorch {args.model} "
                             f"expects {inputs}")
        inputs = declared
    for kv in args.set:  # like recc's --set: a hyperparameter the model takes, value as in a .rec
        k, eq, v = kv.partition("=")
        if not eq or k not in accepted:
            raise SystemExit(f"--set {kv}: not NAME=VALUE with a hyperparameter of the PyTorch {args.model}")
        hyper[k] = literal(v)
    for k in ("seed", "epochs", "batch", "eval_batch", "lr", "weight_decay", "optimizer"):
        if getattr(args, k) is not None:
            cfg[k] = getattr(args, k)
    if "weight_decay" not in cfg:  # recc: PyTorch's AdamW default unless the model sets one
        cfg["weight_decay"] = 0.01 if cfg["optimizer"] == "adamw" else 0.0
    if cfg["epochs"] < 1 or cfg["batch"] < 1 or cfg["eval_batch"] < 1:
        raise SystemExit("epochs, batch and eval batch must be positive")

    torch.set_num_threads(args.threads)
    torch.manual_seed(cfg["seed"])

    vocabs = {}
    train_x, train_y = encode_csv(args.train, inputs, vocabs, grow=True)
    test_x, test_y = encode_csv(args.test, inputs, vocabs, grow=False)
    sizes = {k: v.size() for k, v in vocabs.items()}

    # The model's hyperparameters: the .rec header's defaults (lists as tuples), and the
    # history length for the models that size a layer by it.
    hyper = {k: tuple(v) if isinstance(v, list) else v for k, v in hyper.items()}
    if "length" in accepted and "hist_items" in inputs:
        hyper["length"] = inputs["hist_items"][2]
    model = cls(sizes, **hyper)
    params = model.parameters()
    if cfg["optimizer"] == "adamw":
        opt = torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    elif cfg["optimizer"] == "adam":
        opt = torch.optim.Adam(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    else:
        opt = torch.optim.SGD(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def evaluate():
        """Test-set probabilities in file order, and the seconds spent in the forward pass."""
        model.eval()
        probs, seconds = [], 0.0
        with torch.inference_mode():
            for b in range(0, test_y.shape[0], cfg["eval_batch"]):
                xb = {k: v[b:b + cfg["eval_batch"]] for k, v in test_x.items()}
                t0 = time.perf_counter()
                probs.append(torch.sigmoid(model(xb)))
                seconds += time.perf_counter() - t0
        return probs, seconds

    rows = train_y.shape[0]
    batch = cfg["batch"]
    later_seconds, later_samples = 0.0, 0
    epoch_loss = []
    for epoch in range(cfg["epochs"]):
        model.train()
        gen = torch.Generator().manual_seed(cfg["seed"] + epoch)
        order = torch.randperm(rows, generator=gen)
        step_seconds, loss_sum, batches = 0.0, 0.0, 0
        for b in range(0, rows, batch):
            idx = order[b:b + batch]
            xb = {k: v[idx] for k, v in train_x.items()}
            yb = train_y[idx]
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            out = model(xb)
            if isinstance(out, tuple):  # (logit, weighted auxiliary loss)
                loss = loss_fn(out[0], yb) + out[1]
            else:
                loss = loss_fn(out, yb)
            loss.backward()
            opt.step()
            step_seconds += time.perf_counter() - t0
            loss_sum += loss.item()
            batches += 1
        epoch_loss.append(loss_sum / batches)
        if epoch > 0 or cfg["epochs"] == 1:
            later_seconds += step_seconds
            later_samples += rows
        # Like recc: the test set is scored after every epoch; the last pass is reported.
        probs, infer_seconds = evaluate()

    n = test_y.shape[0]
    prob = torch.cat(probs).double().numpy()
    y = test_y.double().numpy()
    prob = np.clip(prob, EPS, 1 - EPS)

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({
        "model": args.model,
        "auc": float(roc_auc_score(y, prob)),
        "logloss": float(log_loss(y, prob, labels=[0, 1])),
        "train_samples_per_sec": later_samples / later_seconds if later_seconds else 0.0,
        "infer_samples_per_sec": n / infer_seconds if infer_seconds else 0.0,
        "peak_rss_mb": peak_kb / 1024.0,
        "epoch_loss": epoch_loss,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
