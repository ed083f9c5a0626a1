"""Errors a user can cause. The CLI turns each into one line on stderr and exit status 2."""

from __future__ import annotations


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first line of a library's error message (or its type's name), short enough for a one-line answer."""
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else type(error).__name__


class KolangError(Exception):
    """Base class: something about the user's input is wrong, and the message says what to do."""


class DataError(KolangError):
    """A data file is missing, empty, unreadable or in the wrong format."""


class ModelError(KolangError):
    """A model directory cannot be loaded, or its tokenizer encodes to nothing."""


class ArchitectureError(KolangError):
    """The model's architecture has no adapter in `kolang.arch`."""


class NeuronSetError(KolangError):
    """A neuron set is malformed, empty where it must not be, or made for another model."""


class ConfigError(KolangError):
    """An option is out of range or options contradict each other."""


class RewardError(KolangError):
    """A reward function returned NaN, the wrong number of values, or raised."""


class RunDirError(KolangError):
    """A run directory cannot be created, resumed, or was made with another config."""


class OutputError(KolangError):
    """An output path cannot be written, or writing it would replace something kolang did not write."""


class Interrupted(KolangError):
    """The user stopped a run (Ctrl-C); the message says how to resume it. The CLI exits with status 130."""


class KolangNote(UserWarning):
    """Something the user should know that does not stop the run (a neuron set read on other weights of the
    same shape, the cache standing in for an unreachable Hub); issued with `warnings.warn`, the CLI prints it
    as one `kolang: note:` line."""
