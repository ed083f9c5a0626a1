"""Discovery end to end: statistics over a corpus, then a selection method, giving a `NeuronSet`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kolang.data.discovery import require_languages
from kolang.errors import ConfigError


@dataclass(frozen=True)
class DiscoverConfig:
    """How `kolang discover` finds a language's neurons."""

    target: str = "ko"
    """Language whose neurons to find (a code used in the data, e.g. ko)."""
    reference: tuple[str, ...] = ("en",)
    """Reference language(s) to contrast with; LAPE also ranks against every other language present."""
    method: str = "lape"
    """Selection method: lape (Tang et al. 2024), contrast, or ap (Kojima et al. 2024)."""
    top_fraction: float | None = None
    """Keep this fraction of all neurons, ranked globally (LAPE default 0.01)."""
    per_layer: int | None = None
    """Keep this many neurons in every layer instead of a global ranking."""
    layers: str | None = None
    """Layer range to select from, python slice syntax, e.g. 0:8 (default: all layers)."""
    max_length: int = 512
    """Truncate each text to this many tokens."""
    token_budget: int = 16384
    """Tokens per forward batch (batch size x longest text)."""
    max_texts: int | None = None
    """Read at most this many texts per language (default: all)."""

    def __post_init__(self) -> None:
        if self.top_fraction is not None and not 0 < self.top_fraction <= 1:
            raise ConfigError(f"--top-fraction must lie in (0, 1], got {self.top_fraction}")
        if self.per_layer is not None and self.per_layer < 1:
            raise ConfigError(f"--per-layer must be ≥ 1, got {self.per_layer}")
        if self.top_fraction is not None and self.per_layer is not None:
            raise ConfigError("give --top-fraction or --per-layer, not both")
        if self.target in self.reference:
            raise ConfigError(f"the target '{self.target}' is also a reference language")
        if self.max_length < 2 or self.token_budget < self.max_length:
            raise ConfigError("need max_length ≥ 2 and token_budget ≥ max_length")


def cap_per_language(texts: Sequence[str], langs: Sequence[str], max_texts: int | None) -> tuple[list[str], list[str]]:
    """Keep the first `max_texts` texts of each language (all when None)."""
    if max_texts is None:
        return list(texts), list(langs)
    seen: dict[str, int] = {}
    out_t, out_l = [], []
    for t, lang in zip(texts, langs):
        if seen.get(lang, 0) < max_texts:
            seen[lang] = seen.get(lang, 0) + 1
            out_t.append(t)
            out_l.append(lang)
    return out_t, out_l


def discover(model, tokenizer, texts: Sequence[str], langs: Sequence[str], cfg: DiscoverConfig = DiscoverConfig(),
             progress: Callable[[int, int], None] | None = None):
    """Collect statistics on (texts, langs) and select `cfg.target`'s neurons; returns a `NeuronSet`."""
    from kolang.neurons.select import select_neurons
    from kolang.neurons.stats import collect_stats

    require_languages(langs, cfg.target, cfg.reference)
    texts, langs = cap_per_language(texts, langs, cfg.max_texts)
    stats = collect_stats(model, tokenizer, texts, langs, max_length=cfg.max_length, token_budget=cfg.token_budget,
                          keep_text_means=cfg.method == "ap", progress=progress)
    return select_neurons(stats, method=cfg.method, target=cfg.target, reference=cfg.reference,
                          top_fraction=cfg.top_fraction, per_layer=cfg.per_layer, layers=cfg.layers, model=model)
