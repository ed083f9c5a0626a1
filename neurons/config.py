"""`DiscoverConfig`: every option of `kolang discover`, one docstring a field (the CLI help).

Kept free of torch, so the command line can list the options without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from kolang.errors import ConfigError

# The NeuronSet artifact: a folder holding these two files (kolang.neurons.neuronset).
JSON_NAME = "neurons.json"
TENSORS_NAME = "neurons.safetensors"


def validate_strategy(top_fraction: float | None, per_layer: int | None) -> None:
    """Raise `ConfigError` for a fraction outside (0, 1], a quota below 1, or both given at once."""
    if top_fraction is not None and per_layer is not None:
        raise ConfigError("give top_fraction or per_layer (--top-fraction, --per-layer), not both")
    if top_fraction is not None and not 0.0 < float(top_fraction) <= 1.0:
        raise ConfigError(f"top_fraction (--top-fraction) must lie in (0, 1], got {top_fraction}")
    if per_layer is not None and (isinstance(per_layer, bool) or int(per_layer) != per_layer or per_layer < 1):
        raise ConfigError(f"per_layer (--per-layer) must be a positive integer, got {per_layer}")


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
    """Layer range to read and select from, python slice syntax, e.g. 0:8 (default: all layers); the forward
    stops after its last layer."""
    max_length: int = 512
    """Truncate each text to this many tokens."""
    token_budget: int = 16384
    """Tokens per forward batch (batch size x longest text)."""
    max_texts: int | None = None
    """Read at most this many texts per language (default: all)."""
    param: tuple[str, ...] = ()
    """A parameter of the selection method as NAME=VALUE, repeatable: lape's top_rate, filter_rate,
    activation_bar_ratio (Tang et al.'s rates); contrast's quantity (mean or prob) and standardize;
    ap's direction (top, bottom or both)."""

    def __post_init__(self) -> None:
        validate_strategy(self.top_fraction, self.per_layer)
        if self.target in self.reference:
            raise ConfigError(f"the target '{self.target}' is also a reference language")
        if self.max_length < 2 or self.token_budget < self.max_length:
            raise ConfigError("need --max-length ≥ 2 and --token-budget ≥ --max-length")
        if self.max_texts is not None and self.max_texts < 1:
            raise ConfigError(f"--max-texts must be ≥ 1 (texts read per language), got {self.max_texts}")
        for item in self.param:
            name, eq, value = item.partition("=")
            if not eq or not name.strip() or not value.strip():
                raise ConfigError(f"--param takes NAME=VALUE (e.g. --param top_rate=0.02), got '{item}'")

    def method_params(self) -> dict[str, str]:
        """`param` as {name: value text}; the method's config types and checks the values."""
        return {k.strip(): v.strip() for k, _, v in (item.partition("=") for item in self.param)}
