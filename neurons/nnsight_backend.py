"""The statistics computed inside an nnsight trace, so only the (layers x languages x width) sums leave it.

`collect_stats(..., backend="nnsight")` comes here. Each batch is one trace: the block reads every
asked-for layer's act(gate) output and down-projection input, folds them with the same arithmetic
as the hook backend (`kolang.neurons.reduce.fold`), saves the per-layer sums and stops the model
after the last layer. That is the shape of computation nnsight can run on a hosted model (NDIF,
`remote=True`): the activations stay on the server and a few megabytes of sums come back.
`remote="local"` is nnsight's dry run of the remote path (serialised and rebuilt in-process with
kolang hidden), which is how the tests check that the block would travel.

nnsight is imported here only, and this module only when the backend is asked for: it is an
optional heavy dependency.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nnsight
import torch
from nnsight.intervention.envoy import Envoy

from kolang.arch import ModelMap
from kolang.errors import ConfigError
from kolang.neurons import reduce
from kolang.neurons.reduce import BatchMasks, fold

# What NDIF needs before it runs anything; also what the error message tells the user to set.
API_KEY_HINT = ("set the NDIF_API_KEY environment variable or call nnsight.CONFIG.set_default_api_key(KEY) once "
                "(keys: https://login.ndif.us)")


def wrap(model: Any, tokenizer: Any) -> Envoy:
    """`model` as an nnsight model: itself if it already is one, else a `TransformersModel` around it."""
    if isinstance(model, Envoy):
        return model
    try:
        from nnsight import TransformersModel  # nnsight >= 0.8; LanguageModel is its deprecated alias
    except ImportError:
        from nnsight import LanguageModel as TransformersModel
    return TransformersModel(model, tokenizer=tokenizer, task="text-generation")


def hf_module(model: Any) -> torch.nn.Module:
    """The Hugging Face module under an nnsight wrapper (meta weights for a remote-only model)."""
    return model._module if isinstance(model, Envoy) else model


def check_remote(lm: Envoy, remote: bool | str) -> None:
    """Refuse a remote run that cannot work, before any request: no API key, or a model NDIF cannot name."""
    if remote is False or remote == "local":
        return
    if not (nnsight.CONFIG.API.APIKEY or os.environ.get("NDIF_API_KEY")):
        raise ConfigError(f"backend='nnsight' with remote=True runs the trace on NDIF, which needs an API key: "
                          f"{API_KEY_HINT}")
    repo = getattr(lm, "repo_id", None)
    if not repo or Path(str(repo)).exists():
        raise ConfigError("a remote trace runs on a model NDIF hosts, named by its Hub id: pass "
                          "nnsight.TransformersModel('org/name', task='text-generation') as the model, not a local "
                          f"one ({repo or 'built from a config'})")


def _envoy(lm: Envoy, path: str) -> Envoy:
    node = lm
    for part in path.split("."):
        node = node[int(part)] if part.isdigit() else getattr(node, part)
    return node


def trace_batch(lm: Envoy, mm: ModelMap, layers: list[int], input_ids: torch.Tensor, attention_mask: torch.Tensor,
                masks: BatchMasks, remote: bool | str = False) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward of a batch inside a trace: (n, 3, G, W) float64 sums and (n, B, W) per-row sums, n = len(layers).

    Only these two tensors are saved; the model stops after `layers[-1]` (nnsight's `tracer.stop()`).
    """
    if remote:
        nnsight.register(reduce)  # the server has torch, not kolang: ship `fold` and `BatchMasks` by source
    G, W = masks.onehot.shape[0], mm.width
    # Envoys and module paths are resolved out here: the block below is what a remote run ships, so it
    # names only torch, `fold`, the masks and the envoys (which travel as references to the server's model).
    sites = [(_envoy(lm, mm.path(layer, "act")) if mm.spec.gated else None, _envoy(lm, mm.path(layer, "down")))
             for layer in layers]
    with lm.trace({"input_ids": input_ids, "attention_mask": attention_mask}, remote=remote) as tracer:
        sums, rows = [], []
        for act_site, down_site in sites:  # execution order: act(gate) runs before the down projection
            act = act_site.output if act_site is not None else None
            value = down_site.input  # (B, T, W)
            acc = torch.zeros(3, G, W, dtype=torch.float64, device=value.device)
            rows.append(fold(acc, value, act, masks.to(value.device)).cpu())
            sums.append(acc.cpu())  # layers may sit on several devices; the sums are small
        out = nnsight.save((torch.stack(sums), torch.stack(rows)))
        tracer.stop()
    return out
