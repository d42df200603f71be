"""PyTorch versions of the recc zoo models (zoo/*.rec, zoo/std/*.rec), layer for layer.

Every model takes a batch dict of tensors named like its .rec inputs (INPUTS below: LongTensor
ids, FloatTensor dense columns) and returns the logit [B]; a model with an auxiliary loss
returns (logit, weighted auxiliary loss) while training. Shapes and initialisation follow recc:

- embedding(dim, std): one table per vocabulary it is called on, N(0, std^2). As in recc, index
  0 (padding) is an ordinary trainable row: no padding_idx. Inputs of one vocabulary (the
  history and the target item: "movie") share the table.
- dense(x, units): nn.Linear (recc uses PyTorch's default nn.Linear initialisation,
  uniform(+-1/sqrt(in)) for weight and bias); layers PyTorch initialises differently
  (nn.MultiheadAttention, nn.RNN) are re-initialised to recc's dense init.
- mlp(x, hidden, act, drop): act after every layer but the last, dropout after each hidden act.
- param([]) / param([n]): zeros. Dice: BatchNorm without affine (eps 1e-5, momentum 0.1) and
  a per-channel alpha starting at 0.
- Padded history positions (id 0, on the right) are masked as in the .rec: masked means,
  key-padding masks in attention, the state after the last real step of a recurrence.
"""
import math

import torch
from torch import nn

# name: (kind, vocabulary, length) as the zoo declares the inputs (train.py checks them
# against the .rec file).
INPUTS = {
    "user_id": ("id", "user", 0),
    "movie_id": ("id", "movie", 0),
    "year": ("id", "year", 0),
    "genres": ("ids", "genre", 6),
    "hist_items": ("ids", "movie", 20),
    "hist_labels": ("dense", None, 20),
    "target_item": ("id", "movie", 0),
    "target_genres": ("ids", "genre", 10),
}
FIELDS = ("user_id", "movie_id", "year", "genres")
SEQ = ("hist_items", "target_item")
VOCAB_OF = {k: v[1] for k, v in INPUTS.items() if v[1]}


# ---- building blocks (zoo/std/nn.rec) ----

class Dice(nn.Module):
    """p = sigmoid(batch_norm(x)), p * x + (1 - p) * alpha * x; x [..., units]."""

    def __init__(self, units):
        super().__init__()
        self.bn = nn.BatchNorm1d(units, affine=False)
        self.alpha = nn.Parameter(torch.zeros(units))

    def forward(self, x):
        p = torch.sigmoid(self.bn(x.reshape(-1, x.shape[-1])).view_as(x))
        return x * (self.alpha + p * (1 - self.alpha))


def activation(name, units):
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.01)
    if name == "tanh":
        return nn.Tanh()
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "dice":
        return Dice(units)
    if name == "prelu_channels":
        return nn.PReLU(units, 0.25)
    raise ValueError(f"activation {name!r} has no PyTorch version here")


def mlp(in_features, sizes, act="relu", drop=0.0):
    layers = []
    for i, units in enumerate(sizes):
        layers.append(nn.Linear(in_features, units))
        if i + 1 < len(sizes):
            layers.append(activation(act, units))
            if drop > 0:
                layers.append(nn.Dropout(drop))
        in_features = units
    return nn.Sequential(*layers)


def embedding(num, dim, std, max_norm=0.0):
    e = nn.Embedding(num, dim, max_norm=max_norm or None)
    nn.init.normal_(e.weight, 0.0, std)
    with torch.no_grad():  # as recc: the reserved ids <pad> (0) and <oov> (1) start at zero
        e.weight[:2] = 0.0
    return e


class Embeddings(nn.Module):
    """recc's `embedding(dim, std)` layer: a table per vocabulary it is called on."""

    def __init__(self, vocab_sizes, vocabs, dim, std, max_norm=0.0):
        super().__init__()
        self.tables = nn.ModuleDict({v: embedding(vocab_sizes[v], dim, std, max_norm) for v in vocabs})

    def forward(self, field, ids):
        return self.tables[VOCAB_OF[field]](ids)

    def field_list(self, batch):
        """user, movie, year embeddings and the sum of the genre embeddings, each [B, D]."""
        return [self("user_id", batch["user_id"]), self("movie_id", batch["movie_id"]),
                self("year", batch["year"]), self("genres", batch["genres"]).sum(dim=1)]

    def fields(self, batch):
        """[B, 4, D]."""
        return torch.stack(self.field_list(batch), dim=1)


def fm_bi_interaction(v):  # [B, F, D] -> [B, D]
    s = v.sum(dim=1)
    return 0.5 * (s * s - (v * v).sum(dim=1))


def pair_indices(n):
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


class LinearTerms(nn.Module):
    """First-order term: a scalar weight per id of every field (dim-1 embeddings) plus a bias."""

    def __init__(self, vocab_sizes, std):
        super().__init__()
        self.w = Embeddings(vocab_sizes, ("user", "movie", "year", "genre"), 1, std)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, batch):
        return self.w.fields(batch).flatten(1).sum(dim=1) + self.bias


def masked_mean(xs, mask):  # xs [B,T,D], mask [B,T] float
    return (xs * mask.unsqueeze(-1)).sum(dim=1) / (mask.sum(dim=1, keepdim=True) + 1e-8)


def masked_loss(logits, labels, mask):
    """recc's masked_loss(bce_with_logits(.., reduce = false), mask): mean over real positions."""
    l = nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    return (l * mask).sum() / (mask.sum() + 1e-8)


def last_real(hs, lengths):
    """hs [B,T,H] at position lengths - 1 -> [B,H] (the state after the last real step)."""
    idx = (lengths - 1).view(-1, 1, 1).expand(-1, 1, hs.shape[-1])
    return hs.gather(1, idx).squeeze(1)


def recc_uniform_(*tensors, fan_in):
    b = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        for t in tensors:
            t.uniform_(-b, b)


# ---- recurrent layers (zoo/std/rnn.rec) ----

def recurrent(cell, input_size, hidden):
    """A fused nn.RNN / nn.GRU (batch_first) with recc's cells and initialisation: dense(x) is
    uniform(+-1/sqrt(input_size)), dense(h) uniform(+-1/sqrt(hidden)); rnn_cell's dense(h) has
    no bias (PyTorch's bias_hh is held at zero); gru_cell is PyTorch's GRU gate layout."""
    if cell == "rnn_cell":
        layer = nn.RNN(input_size, hidden, nonlinearity="tanh", batch_first=True)
        nn.init.zeros_(layer.bias_hh_l0)
        layer.bias_hh_l0.requires_grad_(False)
        recc_uniform_(layer.weight_hh_l0, fan_in=hidden)
    elif cell == "gru_cell":
        layer = nn.GRU(input_size, hidden, batch_first=True)
        recc_uniform_(layer.weight_hh_l0, layer.bias_hh_l0, fan_in=hidden)
    else:
        raise ValueError(f"cell {cell!r} has no PyTorch version here")
    recc_uniform_(layer.weight_ih_l0, layer.bias_ih_l0, fan_in=input_size)
    return layer


class AUGRU(nn.Module):
    """DIEN's GRU with attentional update gate, u' = a_t * u; zero initial state; returns the
    last state. The input projection runs once for all steps; the loop does the rest."""

    def __init__(self, input_size, hidden):
        super().__init__()
        self.x2h = nn.Linear(input_size, 3 * hidden)
        self.h2h = nn.Linear(hidden, 3 * hidden)
        self.hidden = hidden

    def forward(self, xs, att):  # xs [B,T,D], att [B,T]
        H = self.hidden
        gx = self.x2h(xs).unbind(1)
        att = att.unsqueeze(-1).unbind(1)
        h = xs.new_zeros(xs.shape[0], H)
        for t in range(len(gx)):
            gh = self.h2h(h)
            g = gx[t]
            ru = torch.sigmoid(g[:, :2 * H] + gh[:, :2 * H])
            r, u = ru[:, :H], ru[:, H:] * att[t]
            n = torch.tanh(g[:, 2 * H:] + r * gh[:, 2 * H:])
            h = torch.lerp(h, n, u)  # (1 - u) * h + u * n
        return h


# ---- Transformer layers (zoo/std/transformer.rec, zoo/std/attention.rec) ----

def positional_encoding(length, dim):
    """recc's sinusoidal table [length, dim]: sin at even i, cos at odd i of p / 10000^(2k/dim)."""
    p = torch.arange(length, dtype=torch.float64).unsqueeze(1)
    i = torch.arange(dim)
    angle = p / torch.pow(10000.0, (i - i % 2).double() / dim)
    return torch.where(i % 2 == 1, torch.cos(angle), torch.sin(angle)).float()


def recc_attention_(mha):
    """recc's multi_head_attention: q, k, v and output dense layers with dense init and no
    dropout on the attention weights."""
    recc_uniform_(mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight, mha.out_proj.bias,
                  fan_in=mha.embed_dim)
    mha.dropout = 0.0


def encoder(dim, layers, heads, ff, drop, nested=True):
    """Post-norm encoder layers (x = LN(x + drop(MHA(x))), x = LN(x + drop(FF(x))), FF with
    dropout after its relu) -- nn.TransformerEncoderLayer's structure. Each layer is
    initialised on its own (nn.TransformerEncoder starts every layer from copies of one)."""
    layer = nn.TransformerEncoderLayer(dim, heads, ff, drop, batch_first=True)
    enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=nested)
    for l in enc.layers:
        recc_attention_(l.self_attn)
        for lin in (l.linear1, l.linear2):
            lin.reset_parameters()
    return enc


def decoder(dim, layers, heads, ff, drop):
    layer = nn.TransformerDecoderLayer(dim, heads, ff, drop, batch_first=True)
    dec = nn.TransformerDecoder(layer, layers)
    for l in dec.layers:
        recc_attention_(l.self_attn)
        recc_attention_(l.multihead_attn)
        for lin in (l.linear1, l.linear2):
            lin.reset_parameters()
    return dec


# ---- field models (data/ctr_*.csv) ----

class ALSMLP(nn.Module):
    inputs = ("user_id", "movie_id")

    def __init__(self, vocab_sizes, dim=32, hidden=(256, 128), std=0.05):
        super().__init__()
        self.emb = Embeddings(vocab_sizes, ("user", "movie"), dim, std)
        self.user_tower = mlp(dim, hidden)
        self.item_tower = mlp(dim, hidden)

    def forward(self, batch):
        u = self.user_tower(self.emb("user_id", batch["user_id"]))
        i = self.item_tower(self.emb("movie_id", batch["movie_id"]))
        return (u * i).sum(dim=-1)


class ALSConcat(nn.Module):
    inputs = ("user_id", "movie_id")

    def __init__(self, vocab_sizes, dim=32, hidden=(256, 128), std=0.05):
        super().__init__()
        self.emb = Embeddings(vocab_sizes, ("user", "movie"), dim, std)
        self.deep = mlp(2 * dim, list(hidden) + [1])

    def forward(self, batch):
        x = torch.cat([self.emb("user_id", batch["user_id"]),
                       self.emb("movie_id", batch["movie_id"])], dim=1)
        return self.deep(x).squeeze(1)


class EmbeddingMLP(nn.Module):
    inputs = FIELDS

    def __init__(self, vocab_sizes, dim=32, hidden=(256, 128), std=0.05):
        super().__init__()
        self.emb = Embeddings(vocab_sizes, ("user", "movie", "year", "genre"), dim, std)
        self.deep = mlp(4 * dim, list(hidden) + [1])

    def forward(self, batch):
        return self.deep(self.emb.fields(batch).flatten(1)).squeeze(1)


class FNN(nn.Module):
    inputs = FIELDS

    def __init__(self, vocab_sizes, dim=32, hidden=(256, 128), std=0.05):
        super().__init__()
        self.emb = Embeddings(vocab_sizes, ("user", "movie", "year", "genre"), dim, std)
        self.deep = mlp(5 * dim, list(hidden) + [1])

    def forward(self, batch):
        v = self.emb.fields(batch)
        x = torch.cat([v.flatten(1), fm_bi_interaction(v)], dim=1)
        return self.deep(x).squeeze(1)


class WideDeep(nn.Module):
    inputs = FIELDS

    def __init__(self, vocab_sizes, dim=32, hidden=(256, 128), std=0.05):
        super().__init__()
        self.wide = LinearTerms(vocab_sizes, std)
        self.emb = Embeddings(vocab_sizes, ("user", "movie", "year", "genre"), dim, std)
        self.deep = mlp(4 * dim, list(hidden) + [1])

    def forward(self, batch):
        return self.wide(batch) + self.deep(self.emb.fields(batch).flatten(1)).squeeze(1)


class DeepFM(nn.Module):
    inputs = FIELDS

    def __init__(self, vocab_sizes, dim=32, hidden=(256, 128), max_norm=0.0, drop=0.2):
        super().__init__()
        self.linear = LinearTerms(vocab_sizes, 0.05)
        self.emb = Embeddings(vocab_sizes, ("user", "movie", "year", "genre"), dim, 0.01, max_norm)
        self.deep = mlp(4 * dim, list(hidden) + [1], drop=drop)

    def forward(self, batch):
        v = self.emb.fields(batch)
        fm = fm_bi_interaction(v).sum(dim=1)
        return self.linear(batch) + fm + self.deep(v.flatten(1)).squeeze(1)


class AFM(nn.Module):
    inputs = FIELDS

    def __init__(self, vocab_sizes, dim=32, attention=32, drop=0.2):
        super().__init__()
        self.emb = Embeddings(vocab_sizes, ("user", "movie", "year", "genre"), dim, 0.05)
        self.linear = LinearTerms(vocab_sizes, 0.05)
        self.att = nn.Sequential(nn.Linear(dim, attention), nn.ReLU(), nn.Linear(attention, 1, bias=False))
        self.drop = nn.Dropout(drop)
        self.p = nn.Linear(dim, 1, bias=False)
        i, j = zip(*pair_indices(4))
        self.register_buffer("pi", torch.tensor(i), persistent=False)
        self.register_buffer("pj", torch.tensor(j), persistent=False)

    def forward(self, batch):
        v = self.emb.fields(batch)
        pairs = v[:, self.pi] * v[:, self.pj]                    # [B,6,D]
        a = torch.softmax(self.att(pairs), dim=1)                # over the 6 pairs
        pooled = self.drop((a * pairs).sum(dim=1))
        return self.linear(batch) + self.p(pooled).squeeze(1)


class NFM(nn.Module):
    inputs = FIELDS

    def __init__(self, vocab_sizes, dim=32, hidden=(128, 64), drop=0.2):
        super().__init__()
        self.emb = Embeddings(vocab_sizes, ("user", "movie", "year", "genre"), dim, 0.05)
        self.linear = LinearTerms(vocab_sizes, 0.05)
        self.drop = nn.Dropout(drop)
        self.deep = mlp(dim, list(hidden) + [1], drop=drop)

    def forward(self, batch):
        bi = self.drop(fm_bi_interaction(self.emb.fields(batch)))
        return self.linear(batch) + self.deep(bi).squeeze(1)


class PNN(nn.Module):
    inputs = FIELDS

    def __init__(self, vocab_sizes, dim=32, hidden=(256, 128), drop=0.2):
        super().__init__()
        self.emb = Embeddings(vocab_sizes, ("user", "movie", "year", "genre"), dim, 0.05)
        self.deep = mlp(4 * dim + 6, list(hidden) + [1], drop=drop)
        i, j = zip(*pair_indices(4))
        self.register_buffer("pi", torch.tensor(i), persistent=False)
        self.register_buffer("pj", torch.tensor(j), persistent=False)

    def forward(self, batch):
        v = self.emb.fields(batch)
        p = (v[:, self.pi] * v[:, self.pj]).sum(dim=-1)          # [B,6] inner products
        return self.deep(torch.cat([v.flatten(1), p], dim=1)).squeeze(1)


class DCN(nn.Module):
    inputs = FIELDS

    def __init__(self, vocab_sizes, dim=32, cross_layers=3, hidden=(256, 128), drop=0.2):
        super().__init__()
        d = 4 * dim
        self.emb = Embeddings(vocab_sizes, ("user", "movie", "year", "genre"), dim, 0.05)
        self.cross_w = nn.ModuleList([nn.Linear(d, 1, bias=False) for _ in range(cross_layers)])
        self.cross_b = nn.ParameterList([nn.Parameter(torch.zeros(d)) for _ in range(cross_layers)])
        self.deep = mlp(d, list(hidden), drop=drop)
        self.out = nn.Linear(d + hidden[-1], 1)

    def forward(self, batch):
        x0 = self.emb.fields(batch).flatten(1)
        x = x0
        for w, b in zip(self.cross_w, self.cross_b):
            x = x0 * w(x) + b + x
        return self.out(torch.cat([x, torch.relu(self.deep(x0))], dim=1)).squeeze(1)


class CNN(nn.Module):
    inputs = FIELDS

    def __init__(self, vocab_sizes, dim=32, channels=64, kernel=2, hidden=(128,), drop=0.2):
        super().__init__()
        self.emb = Embeddings(vocab_sizes, ("user", "movie", "year", "genre"), dim, 0.05)
        self.conv = nn.Conv1d(dim, channels, kernel)   # recc's conv1d init is Conv1d's
        self.deep = mlp((4 - kernel + 1) * channels, list(hidden) + [1], drop=drop)

    def forward(self, batch):
        v = self.emb.fields(batch)                               # [B,4,dim]
        maps = torch.relu(self.conv(v.transpose(1, 2)))          # [B,channels,4-kernel+1]
        # recc flattens [B,T',channels] (position-major); the same features, transposed.
        return self.deep(maps.transpose(1, 2).flatten(1)).squeeze(1)


# ---- sequence models (data/seq_*.csv) ----

class BaseSequential(nn.Module):
    inputs = SEQ

    def __init__(self, vocab_sizes, dim=32, hidden=(128, 64), drop=0.2):
        super().__init__()
        self.emb = embedding(vocab_sizes["movie"], dim, 0.05)
        self.deep = mlp(2 * dim, list(hidden) + [1], drop=drop)

    def forward(self, batch):
        ids = batch["hist_items"]
        hist = masked_mean(self.emb(ids), (ids != 0).float())
        target = self.emb(batch["target_item"])
        return self.deep(torch.cat([hist, target], dim=1)).squeeze(1)


class DIN(nn.Module):
    inputs = SEQ

    def __init__(self, vocab_sizes, dim=32, attention=(80, 40), hidden=(200, 80), act="dice", drop=0.2):
        super().__init__()
        self.emb = embedding(vocab_sizes["movie"], dim, 0.05)
        self.bias = embedding(vocab_sizes["movie"], 1, 0.0)
        self.att = mlp(4 * dim, list(attention) + [1], act=act)      # din_scores
        self.deep = mlp(2 * dim, list(hidden) + [1], act=act, drop=drop)

    def forward(self, batch):
        ids, tid = batch["hist_items"], batch["target_item"]
        mask = (ids != 0).float()
        hist = self.emb(ids)                                         # [B,T,D]
        target = self.emb(tid)                                       # [B,D]
        q = target.unsqueeze(1).expand_as(hist)
        s = self.att(torch.cat([hist, q, hist - q, hist * q], dim=-1)).squeeze(-1) * mask
        interest = torch.bmm(s.unsqueeze(1), hist).squeeze(1)        # sum_t s_t h_t
        deep = self.deep(torch.cat([interest, target], dim=1))
        return (deep + self.bias(tid)).squeeze(1)


class DINPlus(nn.Module):
    inputs = ("user_id", "hist_items", "hist_labels", "target_item", "target_genres")

    def __init__(self, vocab_sizes, dim=32, attention=(80, 40), hidden=(200, 80), act="dice", drop=0.2):
        super().__init__()
        self.emb = Embeddings(vocab_sizes, ("user", "movie", "genre"), dim, 0.05)
        self.bias = Embeddings(vocab_sizes, ("user", "movie"), 1, 0.0)
        self.liked = nn.Parameter(torch.randn(dim) * 0.05)
        self.att = mlp(4 * dim, list(attention) + [1], act=act)
        self.deep = mlp(4 * dim + 1, list(hidden) + [1], act=act, drop=drop)

    def forward(self, batch):
        ids, tid, uid, gids = batch["hist_items"], batch["target_item"], batch["user_id"], batch["target_genres"]
        labels = batch["hist_labels"]
        mask = (ids != 0).float()
        hist = self.emb("hist_items", ids) + labels.unsqueeze(-1) * self.liked
        target = self.emb("target_item", tid)
        q = target.unsqueeze(1).expand_as(hist)
        s = self.att(torch.cat([hist, q, hist - q, hist * q], dim=-1)).squeeze(-1) * mask
        interest = torch.bmm(s.unsqueeze(1), hist).squeeze(1)
        genres = masked_mean(self.emb("target_genres", gids), (gids != 0).float())
        rate = labels.sum(dim=1, keepdim=True) / mask.sum(dim=1, keepdim=True)
        deep = self.deep(torch.cat([interest, target, genres, self.emb("user_id", uid), rate], dim=1))
        return (deep + self.bias("target_item", tid) + self.bias("user_id", uid)).squeeze(1)


class DIEN(nn.Module):
    inputs = ("hist_items", "hist_labels", "target_item")

    def __init__(self, vocab_sizes, dim=32, hidden=(200, 80), aux_weight=0.5, drop=0.2):
        super().__init__()
        self.emb = embedding(vocab_sizes["movie"], dim, 0.05)
        self.bias = embedding(vocab_sizes["movie"], 1, 0.0)
        self.gru = recurrent("gru_cell", dim, dim)
        self.att = nn.Linear(dim, dim, bias=False)
        self.augru = AUGRU(dim, dim)
        self.deep = mlp(3 * dim, list(hidden) + [1], act="dice", drop=drop)
        self.aux_weight = aux_weight

    def forward(self, batch):
        ids, tid = batch["hist_items"], batch["target_item"]
        pad = ids == 0
        e = self.emb(ids)                                            # [B,T,D]
        target = self.emb(tid)
        # Right padding: the unmasked GRU's states at the real positions are the masked ones;
        # the padded positions get attention 0 below and are masked out of the auxiliary loss.
        hs, _ = self.gru(e)                                          # [B,T,D]
        scores = (self.att(hs) * target.unsqueeze(1)).sum(dim=-1)
        a = torch.softmax(scores.masked_fill(pad, -1e9), dim=-1)
        final = self.augru(hs, a)
        deep = self.deep(torch.cat([final, target, final * target], dim=1))
        logit = (deep + self.bias(tid)).squeeze(1)
        if not self.training:
            return logit
        aux = (hs[:, :-1] * e[:, 1:]).sum(dim=-1)
        aux_loss = masked_loss(aux, batch["hist_labels"][:, 1:], (~pad[:, 1:]).float())
        return logit, self.aux_weight * aux_loss


class BST(nn.Module):
    inputs = ("hist_items", "hist_labels", "target_item")

    def __init__(self, vocab_sizes, dim=32, layers=1, heads=2, ff=64, hidden=(256, 64), drop=0.1, length=20):
        super().__init__()
        self.emb = embedding(vocab_sizes["movie"], dim, 0.05)
        self.bias = embedding(vocab_sizes["movie"], 1, 0.0)
        self.liked = nn.Parameter(torch.randn(dim) * 0.05)   # added to the liked history items
        # No nested tensors: the real positions (history, then the target after the padding)
        # are not a prefix of the sequence.
        self.encoder = encoder(dim, layers, heads, ff, drop, nested=False)
        self.register_buffer("pos", positional_encoding(length + 1, dim), persistent=False)
        self.deep = mlp((length + 1) * dim, list(hidden) + [1], act="leaky_relu", drop=drop)

    def forward(self, batch):
        ids, tid = batch["hist_items"], batch["target_item"]
        hist = self.emb(ids) + batch["hist_labels"].unsqueeze(-1) * self.liked
        seq = torch.cat([hist, self.emb(tid).unsqueeze(1)], dim=1) + self.pos
        pad = torch.cat([ids == 0, torch.zeros_like(tid, dtype=torch.bool).unsqueeze(1)], dim=1)
        enc = self.encoder(seq, src_key_padding_mask=pad)
        enc = enc.masked_fill(pad.unsqueeze(-1), 0.0)
        return (self.deep(enc.flatten(1)) + self.bias(tid)).squeeze(1)


class RNNRec(nn.Module):
    inputs = SEQ

    def __init__(self, vocab_sizes, dim=32, hidden=64, cell="rnn_cell", drop=0.2):
        super().__init__()
        self.emb = embedding(vocab_sizes["movie"], dim, 0.05)
        self.rnn = recurrent(cell, dim, hidden)
        self.drop = nn.Dropout(drop)
        self.out = nn.Linear(hidden, 1)

    def forward(self, batch):
        ids, tid = batch["hist_items"], batch["target_item"]
        # recc runs the masked recurrence over [history (padded), target]: the state passes the
        # padding unchanged, so it is the plain recurrence over the real items then the target.
        # Put the target right after the last real item and read the state there.
        lengths = (ids != 0).sum(dim=1)
        seq = torch.cat([ids, torch.zeros_like(tid).unsqueeze(1)], dim=1)
        seq = seq.scatter(1, lengths.unsqueeze(1), tid.unsqueeze(1))
        hs, _ = self.rnn(self.emb(seq))
        h = self.drop(last_real(hs, lengths + 1))
        return self.out(h).squeeze(1)


class RNN_ALS(nn.Module):
    inputs = SEQ

    def __init__(self, vocab_sizes, dim=32, cell="rnn_cell"):
        super().__init__()
        self.emb = embedding(vocab_sizes["movie"], dim, 0.05)
        self.rnn = recurrent(cell, dim, dim)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, batch):
        ids = batch["hist_items"]
        hs, _ = self.rnn(self.emb(ids))   # right padding: only states past the last real item differ
        user = last_real(hs, (ids != 0).sum(dim=1))
        return (user * self.emb(batch["target_item"])).sum(dim=-1) + self.bias


class RNN_History(nn.Module):
    inputs = ("hist_items", "hist_labels", "target_item")

    def __init__(self, vocab_sizes, dim=32, cell="rnn_cell", aux_weight=0.5):
        super().__init__()
        self.emb = embedding(vocab_sizes["movie"], dim, 0.05)
        self.rnn = recurrent(cell, dim, dim)
        self.bias = nn.Parameter(torch.zeros(()))
        self.aux_weight = aux_weight

    def forward(self, batch):
        ids = batch["hist_items"]
        mask = ids != 0
        e = self.emb(ids)
        hs, _ = self.rnn(e)
        logit = (last_real(hs, mask.sum(dim=1)) * self.emb(batch["target_item"])).sum(dim=-1) + self.bias
        if not self.training:
            return logit
        aux = (hs[:, :-1] * e[:, 1:]).sum(dim=-1) + self.bias
        return logit, self.aux_weight * masked_loss(aux, batch["hist_labels"][:, 1:], mask[:, 1:].float())


class TransformerEncoderRec(nn.Module):
    inputs = SEQ

    def __init__(self, vocab_sizes, dim=32, layers=2, heads=2, ff=64, hidden=(128, 64), drop=0.1, length=20):
        super().__init__()
        self.emb = embedding(vocab_sizes["movie"], dim, 0.05)
        self.bias = embedding(vocab_sizes["movie"], 1, 0.0)
        self.encoder = encoder(dim, layers, heads, ff, drop, nested=False)
        self.register_buffer("pos", positional_encoding(length, dim), persistent=False)
        self.deep = mlp(2 * dim, list(hidden) + [1], drop=drop)

    def forward(self, batch):
        ids, tid = batch["hist_items"], batch["target_item"]
        pad = ids == 0
        enc = self.encoder(self.emb(ids) + self.pos, src_key_padding_mask=pad)
        x = torch.cat([masked_mean(enc, (~pad).float()), self.emb(tid)], dim=1)
        return (self.deep(x) + self.bias(tid)).squeeze(1)


class Transformer4Rec(nn.Module):
    inputs = ("hist_items", "hist_labels", "target_item")

    def __init__(self, vocab_sizes, dim=32, layers=1, heads=2, ff=64, hidden=(256, 64), aux_weight=0.5,
                 drop=0.1, length=20):
        super().__init__()
        self.emb = embedding(vocab_sizes["movie"], dim, 0.05)
        self.bias = embedding(vocab_sizes["movie"], 1, 0.0)
        # The padded encoder outputs are zeroed below, so the nested-tensor fast path (which
        # returns zeros there) is fine for serving; the decoder reads them only through
        # masked keys.
        self.encoder = encoder(dim, layers, heads, ff, drop, nested=False)
        self.decoder = decoder(dim, layers, heads, ff, drop)
        self.register_buffer("pos", positional_encoding(length, dim), persistent=False)
        self.register_buffer("causal", torch.ones(length, length, dtype=torch.bool).triu(1), persistent=False)
        self.deep = mlp((length + 1) * dim, list(hidden) + [1], act="leaky_relu", drop=drop)
        self.aux_weight = aux_weight

    def forward(self, batch):
        ids, tid = batch["hist_items"], batch["target_item"]
        pad = ids == 0
        e = self.emb(ids)
        x = e + self.pos
        enc = self.encoder(x, src_key_padding_mask=pad)
        seq = torch.cat([enc.masked_fill(pad.unsqueeze(-1), 0.0), self.emb(tid).unsqueeze(1)], dim=1)
        logit = (self.deep(seq.flatten(1)) + self.bias(tid)).squeeze(1)
        if not self.training:
            return logit
        dec = self.decoder(x, enc, tgt_mask=self.causal, tgt_key_padding_mask=pad,
                           memory_key_padding_mask=pad)
        aux = (dec[:, :-1] * e[:, 1:]).sum(dim=-1)
        return logit, self.aux_weight * masked_loss(aux, batch["hist_labels"][:, 1:], (~pad[:, 1:]).float())


MODELS = {
    "als_mlp": ALSMLP,
    "als_concat": ALSConcat,
    "embedding_mlp": EmbeddingMLP,
    "fnn": FNN,
    "wide_deep": WideDeep,
    "deepfm": DeepFM,
    "afm": AFM,
    "nfm": NFM,
    "pnn": PNN,
    "dcn": DCN,
    "cnn": CNN,
    "base_sequential": BaseSequential,
    "din": DIN,
    "din_plus": DINPlus,
    "dien": DIEN,
    "bst": BST,
    "rnn": RNNRec,
    "rnn_als": RNN_ALS,
    "rnn_history": RNN_History,
    "transformer_encoder": TransformerEncoderRec,
    "transformer4rec": Transformer4Rec,
}


def data_split(name):
    """"seq" for the models that read a history (data/seq_*.csv), else "ctr"."""
    return "seq" if "hist_items" in MODELS[name].inputs else "ctr"
