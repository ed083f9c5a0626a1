"""Streaming activation statistics per layer x language x neuron, accumulated inside hooks.

For every (layer, language, neuron) we keep the token count, the sum and the sum of squares of
the neuron value, and the count of tokens where the neuron is active (`act(gate) > 0`, LAPE's
definition), in float64/int64 on the device each layer runs on. Memory is O(layers x languages x
width), whatever the corpus size; whole activations are never cached. Padding and special tokens
(BOS/EOS, which carry no language) are masked out, unless texts are packed into windows the way
RUCAIBox's activation.py reads them (`pack=True`), where every position counts.

The statistics need neither the logits nor the layers above the last one read, so the forward
is cut there (a hook raises after the last layer's reduction): at Qwen2.5-0.5B's dimensions the
logits of one 16k-token batch alone are 10 GB in float32, and the LM head ~12% of a forward.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from kolang.arch import ModelMap, resolve
from kolang.batching import encoded_batches, packed_windows
from kolang.errors import ConfigError, DataError
from kolang.layers import as_layers
from kolang.neurons.hooks import capture_mlp
from kolang.neurons.reduce import BatchMasks, fold


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
    layers: list[int] | None = None  # the layers read (None: every layer); the others' rows are zero

    @property
    def read_layers(self) -> list[int]:
        """The layers whose statistics were collected."""
        return list(range(self.num_layers)) if self.layers is None else list(self.layers)

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
        if self.layers is not None:
            out["layers"] = torch.tensor(self.layers, dtype=torch.int64)
        return {k: v.detach().cpu().contiguous() for k, v in out.items()}

    @classmethod
    def from_tensors(cls, languages: list[str], t: dict[str, torch.Tensor]) -> "ActivationStats":
        return cls(languages=list(languages), tokens=t["tokens"], sum=t["sum"], sumsq=t["sumsq"],
                   active=t["active"], texts=t.get("texts", torch.zeros(len(languages), dtype=torch.int64)),
                   text_means=t.get("text_means"), text_langs=t.get("text_langs"),
                   layers=t["layers"].tolist() if "layers" in t else None)


class StatsAccumulator:
    """Hook target that reduces each MLP forward into per-language sums; use with `capture_mlp`.

    Each layer's sums live on the device its values arrive on, so a model spread over devices
    (`hf_device_map`) is reduced where each layer runs and only the (3, G, W) sums move, when
    `result` gathers them onto `device`.
    """

    def __init__(self, mm: ModelMap, languages: Sequence[str], device: torch.device, keep_text_means: bool = False,
                 layers: Sequence[int] | None = None):
        self.mm, self.languages, self.keep_text_means = mm, list(languages), keep_text_means
        self.device = torch.device(device)
        self.layers = sorted(set(layers)) if layers is not None else list(range(mm.num_layers))
        self.tokens = torch.zeros(len(self.languages), dtype=torch.int64, device=self.device)
        self.texts = torch.zeros(len(self.languages), dtype=torch.int64, device=self.device)
        # layer -> (3, G, W) float64: sum, sum of squares and active count (exact below 2**53), stacked
        # so that one product and one add fold a batch in. Allocated when the layer's first values arrive.
        self._acc: dict[int, torch.Tensor] = {}
        self._rows: list[tuple[torch.Tensor, torch.Tensor]] = []  # (text ids, (B, L, W) means) per batch
        self._masks: dict[torch.device, BatchMasks] = {}  # this batch's masks, one copy per device met
        self._ids: torch.Tensor | None = None
        self._batch_means: torch.Tensor | None = None

    def begin_batch(self, mask: torch.Tensor, lang: torch.Tensor, text_ids: torch.Tensor | None = None) -> None:
        """Set the (batch, seq) mask of counted tokens and the (batch,) language index of each row."""
        masks = BatchMasks.make(mask.to(self.device), lang.to(self.device), len(self.languages))
        self._masks, self._ids = {self.device: masks}, text_ids
        self.tokens.index_add_(0, masks.lang, masks.mask.sum(1).to(torch.int64))
        self.texts.index_add_(0, masks.lang, torch.ones_like(masks.lang))
        if self.keep_text_means:
            self._batch_means = torch.zeros(mask.shape[0], self.mm.num_layers, self.mm.width, dtype=torch.float32,
                                            device=self.device)

    def end_batch(self) -> None:
        if self.keep_text_means and self._batch_means is not None:
            self._rows.append((self._ids.cpu(), self._batch_means.cpu()))
        self._masks, self._batch_means = {}, None

    def masks_on(self, device: torch.device) -> BatchMasks:
        """This batch's masks on `device`, moved there once a batch."""
        if device not in self._masks:
            self._masks[device] = self._masks[self.device].to(device)
        return self._masks[device]

    def sums(self, layer: int, device: torch.device) -> torch.Tensor:
        """The (3, G, W) float64 sums of `layer`, created on `device` at its first batch."""
        if layer not in self._acc:
            self._acc[layer] = torch.zeros(3, len(self.languages), self.mm.width, dtype=torch.float64, device=device)
        return self._acc[layer]

    def __call__(self, layer: int, value: torch.Tensor, act: torch.Tensor | None) -> None:
        masks = self.masks_on(value.device)
        row_sum = fold(self.sums(layer, value.device), value, act, masks)  # (B, W)
        self.add_row_sums(layer, row_sum)

    def add_row_sums(self, layer: int, row_sum: torch.Tensor) -> None:
        """Keep a layer's (B, W) per-row sums as per-text means, when asked for."""
        if self._batch_means is not None:
            counted = self._masks[self.device].mask.sum(1, keepdim=True).clamp(min=1)  # (B, 1)
            self._batch_means[:, layer] = row_sum.to(self.device) / counted

    def result(self) -> ActivationStats:
        L, G, W = self.mm.num_layers, len(self.languages), self.mm.width
        text_means = text_langs = None
        if self.keep_text_means:
            ids = torch.cat([r[0] for r in self._rows]) if self._rows else torch.zeros(0, dtype=torch.int64)
            means = torch.cat([r[1] for r in self._rows]) if self._rows else torch.zeros(0, L, W)
            order = ids.argsort()
            text_means, text_langs = means[order], ids[order]  # text_langs replaced by caller
        # Gather the small per-layer sums onto one device; layers not read stay zero.
        acc = torch.zeros(L, 3, G, W, dtype=torch.float64, device=self.device)
        for layer, part in self._acc.items():
            acc[layer] = part.to(self.device)
        s, sq, active = (acc[:, k].contiguous() for k in range(3))  # (L, G, W) each
        read = None if self.layers == list(range(L)) else list(self.layers)
        return ActivationStats(self.languages, self.tokens, s, sq, active.round().long(), self.texts, text_means,
                               text_langs, layers=read)


class _StopForward(Exception):
    """Raised by the hook of the last layer read: nothing after it is needed, the LM head least of all."""


def _sharded(model: torch.nn.Module) -> bool:
    """Whether DeepSpeed ZeRO-3 or FSDP shard the parameters: their hooks gather a module's weights before its
    forward and free them after, so a forward cut short would leave weights gathered and their state
    machine mid-step. Such models run the whole forward."""
    return any(hasattr(p, "ds_id") or type(p).__name__ in ("FlatParameter", "DTensor") for p in model.parameters())


def collect_stats(
    model: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    langs: Sequence[str],
    *,
    languages: Sequence[str] | None = None,
    layers: "str | range | Iterable[int] | None" = None,
    max_length: int = 512,
    token_budget: int = 16384,
    max_batch: int = 256,
    chunk_texts: int = 4096,
    keep_text_means: bool = False,
    pack: bool = False,
    backend: str = "hooks",
    remote: bool | str = False,
    progress: Callable[[int, int], None] | None = None,
) -> ActivationStats:
    """Run `texts` (labelled by `langs`) through `model` and return their `ActivationStats`.

    Texts are tokenised in chunks, truncated to `max_length` tokens and batched by a token budget.
    Only `layers` are read (a spec such as "0:8"; default every layer): each forward stops after the
    last of them, so the layers above and the LM head never run. `pack=True` reads the texts as
    RUCAIBox's activation.py does, for LAPE's reference-compatible mode: each language's token stream
    is cut into `max_length`-token windows (its last partial window dropped), attention runs across
    text boundaries, and every position counts, special tokens included. Under `torch.distributed`
    each rank reads every world-size-th text (packed: window) and the sums are all-reduced, so every
    rank returns the statistics of the whole corpus. `backend="nnsight"` computes the same sums
    inside an nnsight trace (`model` may then be an nnsight model, and `remote=True` runs the trace on
    NDIF; see `kolang.neurons.nnsight_backend`). `progress(texts_done, tokens_done)` is called after
    each batch (packed: windows done).
    """
    if len(texts) != len(langs):
        raise DataError(f"{len(texts)} texts but {len(langs)} language labels")
    if len(texts) == 0:
        raise DataError("no texts to read")
    if pack and keep_text_means:
        raise ConfigError("packed windows mix texts, so they have no per-text means; "
                          "collect AP statistics with pack=False")
    if backend not in ("hooks", "nnsight"):
        raise ConfigError(f"unknown statistics backend '{backend}'; use 'hooks' or 'nnsight'")
    if remote and backend != "nnsight":
        raise ConfigError("remote runs go through nnsight: pass backend='nnsight' with remote=True")
    languages = list(languages) if languages is not None else sorted(set(langs))
    lang_ix = {lang: i for i, lang in enumerate(languages)}
    missing = sorted(set(langs) - set(lang_ix))
    if missing:
        raise DataError(f"texts in languages {missing} not among {languages}")
    lm = None
    if backend == "nnsight":
        from kolang.neurons import nnsight_backend  # nnsight: an optional heavy dependency, imported when asked for

        lm = nnsight_backend.wrap(model, tokenizer)
        nnsight_backend.check_remote(lm, remote)
        model = nnsight_backend.hf_module(lm)
    mm = resolve(model)
    read = as_layers(layers, mm.num_layers)
    # Inputs go where the embedding is; with `hf_device_map` each layer's sums stay on its own device
    # until `result` gathers them. A remote model's weights are meta tensors: its sums come back to the CPU.
    device = next(model.parameters()).device
    device = torch.device("cpu") if device.type == "meta" else device
    acc = StatsAccumulator(mm, languages, device, keep_text_means, layers=read)
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_available() and dist.is_initialized() else (0, 1)

    stop = not _sharded(model)

    def read_layer(layer: int, value: torch.Tensor, act: torch.Tensor | None) -> None:
        acc(layer, value, act)
        if stop and layer == read[-1]:
            raise _StopForward

    done_texts = done_tokens = 0
    with torch.inference_mode(), (capture_mlp(mm, read_layer, read) if lm is None else contextlib.nullcontext()):
        if pack:
            batches = _packed_batches(tokenizer, texts, [lang_ix[x] for x in langs], rank, world, max_length=max_length,
                                      rows=max(1, min(max_batch, token_budget // max_length)), chunk_texts=chunk_texts)
        else:
            batches = _text_batches(tokenizer, texts, langs, lang_ix, rank, world, max_length=max_length,
                                    token_budget=token_budget, max_batch=max_batch, chunk_texts=chunk_texts)
        for lang, ids, input_ids, attention_mask, counted in batches:
            acc.begin_batch(counted, lang, ids)
            if lm is None:
                try:
                    model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), use_cache=False)
                except _StopForward:
                    pass
            else:
                sums, rows = nnsight_backend.trace_batch(lm, mm, read, input_ids.to(device), attention_mask.to(device),
                                                         acc.masks_on(device), remote)
                for k, layer in enumerate(read):
                    acc.sums(layer, acc.device).add_(sums[k].to(acc.device))
                    acc.add_row_sums(layer, rows[k])
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
