"""Masked SFT: `tune(TuneConfig)` trains one adapter kind on prompt/completion data in a run directory.

The run directory holds `config.json` (the resolved config), `metrics.jsonl` (one line
a step), `checkpoint/` (trainable weights, optimizer and RNG state), `adapter/` and, with
`merge`, `merged/` — a plain Hugging Face model directory. A run resumes from its checkpoint and
reproduces the uninterrupted run: batches depend on the step only.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from kolang.arch import resolve
from kolang.batching import IGNORE, completion_nll
from kolang.config import to_dict
from kolang.data.io import read_records
from kolang.errors import KolangError
from kolang.io import append_jsonl, atomic_dir, holds_only, read_jsonl, remove_stale_temps, trim_jsonl
from kolang.layers import parse_layers
from kolang.models import ADAPTER_FILES, load_model
from kolang.neurons.neuronset import NeuronSet
from kolang.runs import digest, open_run
from kolang.tuning.checkpoint import (
    CKPT,
    batch_rows,
    checkpoint_dirs,
    load_checkpoint,
    save_checkpoint,
    trainable_state,
)
from kolang.tuning.config import TuneConfig
from kolang.tuning.merge import save_merged
from kolang.tuning.sftdata import collate, encode_sft
from kolang.tuning.trainable import Trainable, prepare


def default_layers(num_layers: int) -> list[int]:
    """The first quarter of the layers (at least one): where language-specific neurons concentrate
    (Tang et al., ACL 2024, LAPE: bottom and top layers) and where input-side alignment is cheapest."""
    return list(range(max(1, math.ceil(num_layers / 4))))


def _optimizer(cfg: TuneConfig, tr: Trainable) -> torch.optim.Optimizer:
    # gradmask applies its own masked decay (GradientMask.decay), so the optimizer's is off
    wd = 0.0 if tr.mask is not None else cfg.weight_decay
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(tr.params, lr=cfg.lr, weight_decay=wd)
    return torch.optim.AdamW(tr.params, lr=cfg.lr, weight_decay=wd)


def _last_loss(path: Path) -> float:
    """Loss of the last logged step (what a resumed, already finished run reports)."""
    records = read_jsonl(path) if path.is_file() else []
    return float(records[-1]["loss"]) if records else float("nan")


def tune(cfg: TuneConfig, *, resume: bool = False, model: Any = None, tokenizer: Any = None,
         progress: Callable[[int, float], None] | None = None, stop_after: int | None = None) -> dict[str, Any]:
    """Run masked SFT as `cfg` says and return a summary; `model` and `tokenizer` (both) override `cfg.model`.

    `stop_after` ends the run after that many steps, as an interruption would (for resume tests).
    """
    run = Path(cfg.out)
    hf, tok = load_model(model if model is not None else cfg.model, tokenizer, dtype=cfg.dtype, device=cfg.device,
                         **({} if model is not None else cfg.source_kwargs()))
    records = read_records(cfg.data)
    enc = encode_sft(records, tok, cfg.max_length)
    mm = resolve(hf)
    layers = parse_layers(cfg.layers, mm.num_layers) if cfg.layers else default_layers(mm.num_layers)
    needs_set = cfg.neurons and cfg.adapter not in ("lora", "full")
    ns = NeuronSet.load(cfg.neurons, model=hf) if needs_set else None  # refuses a set made for another model
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    tr = prepare(hf, cfg.adapter, layers, ns, seed=cfg.seed, lora_r=cfg.lora_r, train_bias=cfg.train_bias)
    n_params = sum(p.numel() for p in tr.params)
    fingerprint = mm.fingerprint()
    resolved = {"config": to_dict(cfg), "data_sha256": digest(cfg.data), "layers": layers, "fingerprint": fingerprint,
                "source": fingerprint.get("source"),
                "samples": len(enc.input_ids), "skipped_too_long": enc.skipped, "trainable_params": n_params,
                "neurons_per_layer": {str(k): int(v.numel()) for k, v in tr.neurons.items()}}
    remove_stale_temps(run)  # a checkpoint write cut short by a killed run
    opened = open_run(run, "tune", resolved, resume=resume, checkpoints=checkpoint_dirs(run),
                      may_change=("merge", "out", "data", "steps", "revision"))  # a revision is checked by its commit
    opt = _optimizer(cfg, tr)
    start = load_checkpoint(run, tr.model, opt) if opened.resuming else 0
    opened.commit()
    trim_jsonl(run / "metrics.jsonl", start)
    device = next(hf.parameters()).device
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    tr.model.train()
    t0, loss_v = time.perf_counter(), _last_loss(run / "metrics.jsonl")
    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    for step in range(start, end):
        rows = batch_rows(step, cfg.batch_size, len(enc.input_ids), cfg.seed)
        batch = {k: v.to(device) for k, v in collate(enc, rows, pad).items()}
        logits = tr.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits  # (B, T, V)
        loss = completion_nll(logits, batch["labels"])
        if not torch.isfinite(loss):
            raise KolangError(f"step {step}: the loss became {float(loss)}; lower --lr (the last checkpoint holds "
                              "the weights before it)")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tr.mask is not None:
            tr.mask.decay(cfg.lr, cfg.weight_decay)
        opt.step()
        loss_v = float(loss.detach())
        append_jsonl(run / "metrics.jsonl", {"step": step, "loss": loss_v, "lr": cfg.lr,
                                             "tokens": int((batch["labels"] != IGNORE).sum()),
                                             "elapsed_s": round(time.perf_counter() - t0, 3)})
        if progress is not None:
            progress(step + 1, loss_v)
        if (step + 1) % cfg.save_every == 0 or step + 1 == end:
            save_checkpoint(run, tr.model, opt, step + 1)
    tr.model.eval()
    if tr.mask is not None:
        tr.mask.remove()
    summary = {"run_dir": str(run), "steps": end, "final_loss": loss_v, "trainable_params": n_params,
               "skipped_too_long": enc.skipped, "layers": layers, "resumed_from": start if opened.resuming else None,
               "note": opened.note}
    if end < cfg.steps:
        return {**summary, "interrupted": True}
    summary["adapter"] = str(save_adapter(tr, run / "adapter"))
    if cfg.merge:
        summary["merged"] = str(save_merged(tr.model, tok, run / "merged"))
    return summary


def save_adapter(tr: Trainable, out: Path) -> Path:
    """Write what was trained: a PEFT adapter directory, or the tuned tensors for full/gradmask."""
    with atomic_dir(out, holds_only(ADAPTER_FILES)) as tmp:
        if tr.is_peft:
            tr.model.save_pretrained(str(tmp))
        else:
            save_file({n: t.cpu() for n, t in trainable_state(tr.model).items()}, str(tmp / "tuned.safetensors"))
    return out


__all__ = ["TuneConfig", "tune", "default_layers", "save_adapter", "CKPT"]
