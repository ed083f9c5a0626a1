"""Layer ranges as users write them ("0:8", "-4:", "3", "0,2,5"), parsed in one place for every stage.

Ranges follow Python slice semantics (half-open, negative indices count from the end), but unlike
Python slicing a bound past the model's layer count is an error, not silently clipped: a user who
asks for "0:40" on a 28-layer model has the wrong model or the wrong flag.
"""

from __future__ import annotations

from collections.abc import Iterable

from kolang.errors import ConfigError


def _bound(text: str, num_layers: int, spec: str, *, is_stop: bool) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"layer spec '{spec}': '{text}' is not an integer") from None
    hi = num_layers if is_stop else num_layers - 1  # a stop may equal num_layers (half-open)
    if not -num_layers <= value <= hi:
        raise ConfigError(
            f"layer spec '{spec}': {value} is out of range for a model with {num_layers} layers "
            f"(valid: {-num_layers}..{hi})"
        )
    return value + num_layers if value < 0 else value


def _parse_part(part: str, num_layers: int, spec: str) -> list[int]:
    if ":" not in part:
        return [_bound(part, num_layers, spec, is_stop=False)]
    fields = part.split(":")
    if len(fields) > 3:
        raise ConfigError(f"layer spec '{spec}': '{part}' has more than two ':'")
    start_s, stop_s = fields[0].strip(), fields[1].strip()
    step_s = fields[2].strip() if len(fields) == 3 else ""
    start = _bound(start_s, num_layers, spec, is_stop=False) if start_s else 0
    stop = _bound(stop_s, num_layers, spec, is_stop=True) if stop_s else num_layers
    step = 1
    if step_s:
        try:
            step = int(step_s)
        except ValueError:
            raise ConfigError(f"layer spec '{spec}': step '{step_s}' is not an integer") from None
        if step <= 0:
            raise ConfigError(f"layer spec '{spec}': the step must be a positive integer, got {step}")
    return list(range(start, stop, step))


def parse_layers(spec: str, num_layers: int) -> list[int]:
    """Sorted unique layer indices named by `spec`: "0:8", ":8", "-4:", "::2", "3", "0,2,5", "all".

    Raises `ConfigError` if a bound is outside the model's `num_layers` or the range is empty.
    """
    if num_layers <= 0:
        raise ConfigError(f"cannot select layers of a model with {num_layers} layers")
    text = str(spec).strip()
    if not text:
        raise ConfigError("empty layer spec; write a range such as '0:8' or 'all'")
    if text.lower() == "all":
        return list(range(num_layers))
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ConfigError(f"layer spec '{spec}' has an empty item between commas")
        out.update(_parse_part(part, num_layers, text))
    if not out:
        raise ConfigError(f"layer spec '{spec}' selects no layer of a model with {num_layers} layers")
    return sorted(out)


def as_layers(layers: "str | range | Iterable[int] | None", num_layers: int) -> list[int]:
    """Normalise a layer spec, a `range` or an iterable of indices to sorted unique valid layers.

    `None` means every layer. Integers must lie in [0, num_layers); negative integers count from the end.
    """
    if layers is None:
        return list(range(num_layers))
    if isinstance(layers, str):
        return parse_layers(layers, num_layers)
    out: set[int] = set()
    for x in layers:
        if isinstance(x, bool) or not isinstance(x, int) and not hasattr(x, "__index__"):
            raise ConfigError(f"layer {x!r} is not an integer")
        i = int(x)
        if not -num_layers <= i < num_layers:
            raise ConfigError(f"layer {i} is out of range for a model with {num_layers} layers (valid: 0..{num_layers - 1})")
        out.add(i + num_layers if i < 0 else i)
    if not out:
        raise ConfigError("no layer given; name at least one layer")
    return sorted(out)
