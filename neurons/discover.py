"""Discovery end to end: statistics over a corpus, then a selection method, giving a `NeuronSet`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kolang.data.discovery import require_languages
from kolang.neurons.config import DiscoverConfig
from kolang.neurons.select import select_neurons
from kolang.neurons.stats import collect_stats


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
    require_languages(langs, cfg.target, cfg.reference)
    texts, langs = cap_per_language(texts, langs, cfg.max_texts)
    stats = collect_stats(model, tokenizer, texts, langs, max_length=cfg.max_length, token_budget=cfg.token_budget,
                          keep_text_means=cfg.method == "ap", progress=progress)
    return select_neurons(stats, method=cfg.method, target=cfg.target, reference=cfg.reference,
                          top_fraction=cfg.top_fraction, per_layer=cfg.per_layer, layers=cfg.layers, model=model)
