"""Streaming activation statistics per layer x language x neuron, accumulated inside hooks.

For every (layer, language, neuron) we keep the token count, the sum and the sum of squares of
the neuron value, and the count of tokens where the neuron is active (`act(gate) > 0`, LAPE's
definition), in float64/int64 on the model's device. Memory is O(layers x languages x width),
whatever the corpus size; whole activations are never cached. Padding and special tokens
(BOS/EOS, which carry no language) are masked out, unless texts are packed into windows the way
RUCAIBox's activation.py reads them (`pack=True`), where every position counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from kolang.arch import ModelMap, resolve
from kolang.batching import encoded_batches, packed_windows
from kolang.errors import ConfigError, DataError
from kolang.neurons.hooks import capture_mlp


@dataclass
class ActivationStats:
    """Sufficient statistics of every neuron's value, by language. Indexing is [layer, language, neuron]."""

    languages: list[str]
    tokens: torch.Tensor  # (G,) int64 — tokens read per language
    sum: torch.Tensor  # (L, G, W) float64
    sumsq: torch.Tensor  # (L, G, W) float64
    active: torch.Tensor  # (L, G, W) int64 — tokens with act(gate) > 0
    texts: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))  # (G,) texts (packed: windows) per language
    text_means: torch.Tensor | None = None  # (N, L, W) float32 — per-text mean value (for AP), optional
    text_langs: torch.Tensor | None = None  # (N,) int64 — language index of each text
    fingerprint: dict | None = None  # ModelMap.fingerprint() of the model read, stamped on selected sets

    @property
    def num_layers(self) -> int:
        return self.sum.shape[0]

    @property
    def width(self) -> int:
        return self.sum.shape[2]

    def lang_index(self, lang: str) -> int:
        if lang not in self.languages:
            raise DataError(f"language '{lang}' not in the statistics (have {', '.join(self.languages)})")
        return self.languages.index(lang)

    def mean(self) -> torch.Tensor:
        """(L, G, W) mean neuron value per language."""
        return self.sum / self.tokens.clamp(min=1).to(self.sum.dtype)[None, :, None]

    def var(self) -> torch.Tensor:
        """(L, G, W) population variance of the neuron value per language."""
        n = self.tokens.clamp(min=1).to(self.sum.dtype)[None, :, None]
        return (self.sumsq / n - self.mean() ** 2).clamp(min=0)

    def prob(self) -> torch.Tensor:
        """(L, G, W) activation probability P(act(gate) > 0) per language (LAPE's p)."""
        return self.active.to(torch.float64) / self.tokens.clamp(min=1).to(torch.float64)[None, :, None]

    def to(self, device: str | torch.device) -> "ActivationStats":
        moved = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()}
        return ActivationStats(**moved)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The statistics as a flat dict of CPU tensors (for safetensors)."""
        out = {"tokens": self.tokens, "texts": self.texts, "sum": self.sum, "sumsq": self.sumsq, "active": self.active}
        if self.text_means is not None:
            out["text_means"] = self.text_means
            out["text_langs"] = self.text_langs
        return {k: v.detach().cpu().contiguous() for k, v in out.items()}

    @classmethod
    def from_tensors(cls, languages: list[str], t: dict[str, torch.Tensor]) -> "ActivationStats":
        return cls(languages=list(languages), tokens=t["tokens"], sum=t["sum"], sumsq=t["sumsq"],
                   active=t["active"], texts=t.get("texts", torch.zeros(len(languages), dtype=torch.int64)),
                   text_means=t.get("text_means"), text_langs=t.get("text_langs"))


class StatsAccumulator:
    """Hook target that reduces each MLP forward into per-language sums; use with `capture_mlp`."""

    def __init__(self, mm: ModelMap, languages: Sequence[str], device: torch.device, keep_text_means: bool = False):
        L, G, W = mm.num_layers, len(languages), mm.width
        self.mm, self.languages, self.keep_text_means = mm, list(languages), keep_text_means
        self.tokens = torch.zeros(G, dtype=torch.int64, device=device)
        self.texts = torch.zeros(G, dtype=torch.int64, device=device)
        # (L, 3, G, W) float64: sum, sum of squares and active count (exact below 2**53), stacked so
        # that one product and one add per layer fold a batch in.
        self._acc = torch.zeros(L, 3, G, W, dtype=torch.float64, device=device)
        self._rows: list[tuple[torch.Tensor, torch.Tensor]] = []  # (text ids, (B, L, W) means) per batch
        self._mask: torch.Tensor | None = None
        self._weight: torch.Tensor | None = None
        self._onehot: torch.Tensor | None = None
        self._lang: torch.Tensor | None = None
        self._batch_means: torch.Tensor | None = None

    def begin_batch(self, mask: torch.Tensor, lang: torch.Tensor, text_ids: torch.Tensor | None = None) -> None:
        """Set the (batch, seq) mask of counted tokens and the (batch,) language index of each row."""
        self._mask, self._lang, self._ids = mask, lang, text_ids
        self._weight = mask.unsqueeze(1).to(torch.float32)  # (B, 1, T): 1 on counted tokens
        # (G, B): row b belongs to language g. Summing rows by language with this product rather
        # than index_add_ avoids a scatter that is slow on CPU.
        self._onehot = (lang[None, :] == torch.arange(len(self.languages), device=lang.device)[:, None]).float()
        per_row = mask.sum(1)  # (B,)
        self.tokens.index_add_(0, lang, per_row.to(torch.int64))
        self.texts.index_add_(0, lang, torch.ones_like(lang))
        if self.keep_text_means:
            self._batch_means = torch.zeros(mask.shape[0], self.mm.num_layers, self.mm.width, dtype=torch.float32, device=mask.device)

    def end_batch(self) -> None:
        if self.keep_text_means and self._batch_means is not None:
            self._rows.append((self._ids.cpu(), self._batch_means.cpu()))
        self._mask = self._weight = self._onehot = self._lang = self._batch_means = None

    def __call__(self, layer: int, value: torch.Tensor, act: torch.Tensor | None) -> None:
        mask = self._mask  # (B, T) bool
        v = value.float()  # (B, T, W)
        flag = act if act is not None else value  # active where > 0
        if torch.get_float32_matmul_precision() == "highest":
            # Masked sums over the sequence as (1, T) @ (T, W) products: one read of each tensor and
            # no masked copy (masking and a bool sum over T were most of the cost of a hooked
            # forward on CPU). Padding gets weight 0; its values are finite in right-padded batches.
            w, onehot = self._weight, self._onehot  # (B, 1, T), (G, B)
            rows = torch.empty(3, v.shape[0], 1, v.shape[2], device=v.device)  # (3, B, 1, W)
            torch.bmm(w, v, out=rows[0])
            torch.bmm(w, v.square(), out=rows[1])
            # Counts of 0/1 summed in float32 are exact integers below 2**24 tokens a batch.
            torch.bmm(w, torch.gt(flag, 0, out=torch.empty_like(v)), out=rows[2])  # 1.0 where active
            self._acc[layer] += onehot @ rows.squeeze(2)  # (3, G, W), accumulated in float64
            row_sum = rows[0, :, 0]  # (B, W)
        else:  # TF32/bf16 matmuls would round the values: reduce element-wise instead
            m = mask.unsqueeze(-1)  # (B, T, 1)
            v = v.masked_fill(~m, 0.0)
            row_sum = v.sum(1)  # (B, W)
            rows = torch.stack([row_sum, (v * v).sum(1), ((flag > 0) & m).sum(1).float()], 1)  # (B, 3, W)
            self._acc[layer].index_add_(1, self._lang, rows.double().transpose(0, 1))
        if self._batch_means is not None:
            self._batch_means[:, layer] = row_sum / mask.sum(1, keepdim=True).clamp(min=1)

    def result(self) -> ActivationStats:
        text_means = text_langs = None
        if self.keep_text_means:
            ids = torch.cat([r[0] for r in self._rows]) if self._rows else torch.zeros(0, dtype=torch.int64)
            means = torch.cat([r[1] for r in self._rows]) if self._rows else torch.zeros(0, self.mm.num_layers, self.mm.width)
            order = ids.argsort()
            text_means, text_langs = means[order], ids[order]  # text_langs replaced by caller
        s, sq, active = (self._acc[:, k].contiguous() for k in range(3))  # (L, G, W) each
        return ActivationStats(self.languages, self.tokens, s, sq, active.round().long(), self.texts, text_means, text_langs)


def collect_stats(
    model: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    langs: Sequence[str],
    *,
    languages: Sequence[str] | None = None,
    max_length: int = 512,
    token_budget: int = 16384,
    max_batch: int = 256,
    chunk_texts: int = 4096,
    keep_text_means: bool = False,
    pack: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ActivationStats:
    """Run `texts` (labelled by `langs`) through `model` and return their `ActivationStats`.

    Texts are tokenised in chunks, truncated to `max_length` tokens and batched by a token budget.
    `pack=True` reads them as RUCAIBox's activation.py does, for LAPE's reference-compatible mode:
    each language's token stream is cut into `max_length`-token windows (its last partial window
    dropped), attention runs across text boundaries, and every position counts, special tokens
    included. Under `torch.distributed` each rank reads every world-size-th text (packed: window)
    and the sums are all-reduced, so every rank returns the statistics of the whole corpus.
    `progress(texts_done, tokens_done)` is called after each batch (packed: windows done).
    """
    if len(texts) != len(langs):
        raise DataError(f"{len(texts)} texts but {len(langs)} language labels")
    if len(texts) == 0:
        raise DataError("no texts to read")
    if pack and keep_text_means:
        raise ConfigError("packed windows mix texts, so they have no per-text means; "
                          "collect AP statistics with pack=False")
    languages = list(languages) if languages is not None else sorted(set(langs))
    lang_ix = {lang: i for i, lang in enumerate(languages)}
    missing = sorted(set(langs) - set(lang_ix))
    if missing:
        raise DataError(f"texts in languages {missing} not among {languages}")
    mm = resolve(model)
    device = next(model.parameters()).device
    acc = StatsAccumulator(mm, languages, device, keep_text_means)
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_available() and dist.is_initialized() else (0, 1)
    done_texts = done_tokens = 0
    with torch.inference_mode(), capture_mlp(mm, acc):
        if pack:
            batches = _packed_batches(tokenizer, texts, [lang_ix[x] for x in langs], rank, world, max_length=max_length,
                                      rows=max(1, min(max_batch, token_budget // max_length)), chunk_texts=chunk_texts)
        else:
            batches = _text_batches(tokenizer, texts, langs, lang_ix, rank, world, max_length=max_length,
                                    token_budget=token_budget, max_batch=max_batch, chunk_texts=chunk_texts)
        for lang, ids, input_ids, attention_mask, counted in batches:
            acc.begin_batch(counted.to(device), lang.to(device), ids)
            model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), use_cache=False)
            acc.end_batch()
            done_texts += len(lang)
            done_tokens += int(counted.sum())
            if progress is not None:
                progress(done_texts, done_tokens)
    stats = acc.result()
    if world > 1:
        for t in (stats.tokens, stats.texts, stats.sum, stats.sumsq, stats.active):
            dist.all_reduce(t)
        if keep_text_means:
            parts: list = [None] * world
            dist.all_gather_object(parts, (stats.text_langs, stats.text_means))
            ids = torch.cat([p[0] for p in parts])
            means = torch.cat([p[1] for p in parts])
            order = ids.argsort()
            stats.text_means, stats.text_langs = means[order], ids[order]
    stats.fingerprint = mm.fingerprint()
    if keep_text_means:
        stats.text_langs = torch.tensor([lang_ix[langs[int(i)]] for i in stats.text_langs], dtype=torch.int64)
    return stats


# (language index (B,), text ids (B,) or None, input_ids, attention_mask, counted (B, T)) of one forward.
_Rows = tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor, torch.Tensor]


def _text_batches(tokenizer, texts: Sequence[str], langs: Sequence[str], lang_ix: dict[str, int], rank: int,
                  world: int, **batching) -> Iterator[_Rows]:
    """Padded batches of this rank's texts (every world-th), special tokens and padding not counted."""
    mine = list(range(rank, len(texts), world))
    for b in encoded_batches(tokenizer, [texts[i] for i in mine], **batching):
        ids = [mine[j] for j in b.index]
        yield torch.tensor([lang_ix[langs[i]] for i in ids]), torch.tensor(ids), b.input_ids, b.attention_mask, b.counted


def _packed_batches(tokenizer, texts: Sequence[str], groups: list[int], rank: int, world: int, *, max_length: int,
                    rows: int, chunk_texts: int) -> Iterator[_Rows]:
    """Batches of `rows` packed windows, this rank's every world-th one (each rank encodes every text); all positions count."""
    batch: list[tuple[int, torch.Tensor]] = []
    windows = packed_windows(tokenizer, texts, groups, window=max_length, chunk_texts=chunk_texts)
    for i, item in enumerate(windows):
        if i % world == rank:
            batch.append(item)
        if len(batch) == rows:
            yield _window_rows(batch)
            batch = []
    if batch:
        yield _window_rows(batch)


def _window_rows(batch: list[tuple[int, torch.Tensor]]) -> _Rows:
    input_ids = torch.stack([ids for _, ids in batch])  # (B, window): no padding
    ones = torch.ones_like(input_ids)
    return torch.tensor([g for g, _ in batch]), None, input_ids, ones, ones.bool()
