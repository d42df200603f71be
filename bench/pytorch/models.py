"""PyTorch versions of the recc zoo models (zoo/*.rec, zoo/std/nn.rec), layer for layer.

Every model takes a batch dict of LongTensors -- user_id [B], movie_id [B], year [B],
genres [B, 6] -- and returns the logit [B]. Shapes and initialisation follow recc:

- embedding(dim, std): one table per vocabulary (user, movie, year, genre), N(0, std^2). As in
  recc, index 0 (padding) is an ordinary trainable row: no padding_idx.
- dense(x, units): nn.Linear (recc uses PyTorch's default nn.Linear initialisation).
- mlp(x, hidden): ReLU after every layer but the last.
- param([]) (the global bias of linear_terms): zeros.
"""
import torch
from torch import nn

FIELDS = ("user_id", "movie_id", "year", "genres")
VOCAB_OF = {"user_id": "user", "movie_id": "movie", "year": "year", "genres": "genre"}


def mlp(in_features, sizes):
    layers = []
    for i, units in enumerate(sizes):
        layers.append(nn.Linear(in_features, units))
        if i + 1 < len(sizes):
            layers.append(nn.ReLU())
        in_features = units
    return nn.Sequential(*layers)


class Embeddings(nn.Module):
    """recc's `embedding(dim, std)` layer: a table per vocabulary it is called on."""

    def __init__(self, vocab_sizes, vocabs, dim, std):
        super().__init__()
        self.tables = nn.ModuleDict({v: nn.Embedding(vocab_sizes[v], dim) for v in vocabs})
        for t in self.tables.values():
            nn.init.normal_(t.weight, 0.0, std)

    def forward(self, field, ids):
        return self.tables[VOCAB_OF[field]](ids)

    def fields(self, batch):
        """[B, 4, D]: user, movie, year embeddings and the sum of the genre embeddings."""
        return torch.stack(
            [self("user_id", batch["user_id"]), self("movie_id", batch["movie_id"]),
             self("year", batch["year"]), self("genres", batch["genres"]).sum(dim=1)], dim=1)


def fm_bi_interaction(v):  # [B, F, D] -> [B, D]
    s = v.sum(dim=1)
    return 0.5 * (s * s - (v * v).sum(dim=1))


class LinearTerms(nn.Module):
    """First-order term: a scalar weight per id of every field (dim-1 embeddings) plus a bias."""

    def __init__(self, vocab_sizes, std):
        super().__init__()
        self.w = Embeddings(vocab_sizes, ("user", "movie", "year", "genre"), 1, std)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, batch):
        return self.w.fields(batch).flatten(1).sum(dim=1) + self.bias


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

    def __init__(self, vocab_sizes, dim=32, hidden=(256, 128), std=0.05):
        super().__init__()
        self.linear = LinearTerms(vocab_sizes, std)
        self.emb = Embeddings(vocab_sizes, ("user", "movie", "year", "genre"), dim, std)
        self.deep = mlp(4 * dim, list(hidden) + [1])

    def forward(self, batch):
        v = self.emb.fields(batch)
        fm = fm_bi_interaction(v).sum(dim=1)
        return self.linear(batch) + fm + self.deep(v.flatten(1)).squeeze(1)


MODELS = {
    "als_mlp": ALSMLP,
    "als_concat": ALSConcat,
    "embedding_mlp": EmbeddingMLP,
    "fnn": FNN,
    "wide_deep": WideDeep,
    "deepfm": DeepFM,
}
