"""Discovery end to end: statistics over a corpus, then a selection method, giving a `NeuronSet`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from kolang.data.discovery import require_languages
from kolang.errors import ConfigError
from kolang.neurons.config import DiscoverConfig
from kolang.neurons.select import get_method, select_neurons
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
    # Only the layers selected from are read: the forward stops after the last of them.
    stats = collect_stats(model, tokenizer, texts, langs, layers=cfg.layers, max_length=cfg.max_length,
                          token_budget=cfg.token_budget, keep_text_means=cfg.method == "ap", progress=progress)
    return select_neurons(stats, method=cfg.method, target=cfg.target, reference=cfg.reference,
                          top_fraction=cfg.top_fraction, per_layer=cfg.per_layer, layers=cfg.layers, model=model,
                          **typed_params(cfg.method, cfg.method_params()))


def typed_params(method: str, params: dict[str, str]) -> dict[str, Any]:
    """Method parameters given as text (`--param top_rate=0.02`) converted to the types of the method's
    config fields; unknown names are left for `select_neurons` to refuse."""
    fields = {f.name: f.type for f in dataclasses.fields(get_method(method).config)}
    out: dict[str, Any] = {}
    for name, text in params.items():
        kind = str(fields.get(name, "str"))
        try:
            if kind in ("bool", "<class 'bool'>"):
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                out[name] = text.lower() in ("true", "1", "yes")
            elif kind in ("float", "<class 'float'>"):
                out[name] = float(text)
            elif kind in ("int", "<class 'int'>"):
                out[name] = int(text)
            else:
                out[name] = text
        except ValueError:
            raise ConfigError(f"--param {name}={text}: {method}'s {name} takes a {kind}") from None
    return out
