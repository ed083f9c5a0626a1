"""The GRPO loop, top to bottom: sample groups, score, filter, advantages, clipped update, log, save.

One step (GRPO, arXiv:2402.03300 Alg. 1, with DAPO's dynamic sampling and clip-higher):
  1. draw prompts, sample G completions each (rollout.generate), score them with the rewards;
  2. keep groups whose accuracy lies inside (low, high), drawing more prompts until the batch
     is full (filtering.fill_batch);
  3. group-relative advantages (advantages.group_advantages);
  4. `num_iterations` optimizer steps on the clipped surrogate, old log-probs fixed (loss.py);
  5. log one metrics line, check for language collapse, checkpoint every `save_every` steps.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig

from kolang.analysis.language import language_path
from kolang.arch import resolve
from kolang.checkpoint import load_checkpoint, load_trainable
from kolang.config import to_dict
from kolang.data.chat import format_prompt
from kolang.data.io import read_records
from kolang.data.thought import opens_thought
from kolang.errors import ConfigError, DataError, KolangError
from kolang.io import append_jsonl, atomic_dir, holds_only, remove_stale_temps, trim_jsonl
from kolang.layers import parse_layers
from kolang.models import ADAPTER_FILES, load_model, pick_device, set_threads
from kolang.neurons.neuronset import NeuronSet
from kolang.rl import checkpoint as ckpt
from kolang.rl.advantages import group_advantages
from kolang.rl.config import RESUMABLE_CHANGES, RLConfig
from kolang.rl.filtering import fill_batch, keep_groups
from kolang.rl.judge import load_judge
from kolang.rl.loss import micro_batch_loss
from kolang.rl.monitor import CollapseMonitor, target_share
from kolang.rl.rewards import (
    AccuracyReward,
    FormatReward,
    LanguageConsistencyReward,
    ThinkFormatReward,
    WeightedReward,
    checked,
)
from kolang.rl.rollout import (
    Rollout,
    encode_prompts,
    generate,
    group_logprobs,
    shares_prompts_under_checkpointing,
    token_logprobs,
)
from kolang.runs import digest, open_run
from kolang.tuning.trainable import prepare, wrap

# Fields of a metrics line that measure speed, not learning: they differ between identical runs.
TIMING_FIELDS = ("step_time_s", "tokens_per_s", "elapsed_s")


def check_records(records: Sequence[dict[str, Any]], source: str = "data") -> None:
    """`DataError` unless every record has a non-empty `prompt` and an `answer`."""
    if not records:
        raise DataError(f"{source} holds no records")
    for n, r in enumerate(records, 1):
        if not isinstance(r, dict) or "prompt" not in r or "answer" not in r:
            raise DataError(f"{source}: record {n} lacks a 'prompt' or an 'answer'; RL records are {{\"prompt\", \"answer\", \"lang\"}}")
        if r["answer"] is None or str(r["answer"]).strip() == "":
            raise DataError(f"{source}: record {n} has an empty 'answer'")


def default_rewards(cfg: RLConfig, device: Any = None, opened: bool | None = None) -> WeightedReward:
    """Accuracy, language consistency, answer-format and think-format rewards weighted as `cfg` says (plus
    the judge); `opened` says whether the chat template pre-fills an open `<think>` block."""
    acc = AccuracyReward(opened=opened)
    lang = LanguageConsistencyReward(cfg.target, cfg.language_min_letters, cfg.language_mode, cfg.language_threshold,
                                     part=cfg.language_part, opened=opened)
    fns: list[Any] = [acc, lang, FormatReward(opened=opened), ThinkFormatReward(opened=opened)]
    weights = [cfg.accuracy_weight, cfg.language_weight, cfg.format_weight, cfg.think_format_weight]
    if cfg.judge:
        # The judge takes the accuracy weight: it gates or calibrates accuracy, or replaces it (score).
        fns.append(load_judge(cfg.judge, cfg.judge_kind, cfg.judge_mode, acc if cfg.judge_mode != "score" else None,
                              device=device))
        weights = [0.0, *weights[1:], cfg.accuracy_weight]
    return WeightedReward(fns, weights)


def prepare_policy(model: torch.nn.Module, cfg: RLConfig) -> tuple[torch.nn.Module, list[torch.nn.Parameter]]:
    """The model to train and its trainable parameters, for `cfg.trainable`."""
    if cfg.trainable == "full":
        model.requires_grad_(True)
        return model, [p for p in model.parameters() if p.requires_grad]
    if cfg.trainable == "lora":
        model.requires_grad_(False)
        lc = LoraConfig(r=cfg.lora_r, lora_alpha=2 * cfg.lora_r, lora_dropout=0.0, target_modules="all-linear",
                        fan_in_fan_out=resolve(model).spec.conv1d)
        pm = wrap(model, lc)
        return pm, [p for p in pm.parameters() if p.requires_grad]

    ns = NeuronSet.load(cfg.neurons, model=model)
    layers = parse_layers(cfg.layers, resolve(model).num_layers) if cfg.layers else ns.layers()
    tr = prepare(model, "neurons", layers, ns, seed=cfg.seed)
    return tr.model, tr.params


class GRPOTrainer:
    """Runs `cfg` in its run directory; `model`/`tokenizer`/`records`/`rewards` override what `cfg` names.

    `on_step(step, model)` is called after every optimizer step (drift tracking hooks in here).
    """

    def __init__(self, cfg: RLConfig, model: Any = None, tokenizer: Any = None, records: Sequence[dict] | None = None,
                 rewards: WeightedReward | None = None, on_step: Callable[[int, Any], None] | None = None,
                 progress: Callable[[int, dict[str, Any]], None] | None = None) -> None:

        set_threads(cfg.threads)
        self.cfg, self.on_step, self.progress = cfg, on_step, progress
        self.run = Path(cfg.out)
        if not cfg.out:
            raise ConfigError("give a run directory (--out)")
        self.records = list(records) if records is not None else read_records(cfg.data, required=("prompt", "answer"))
        check_records(self.records, cfg.data or "records")
        device = pick_device(cfg.device)
        dtype = cfg.dtype if cfg.dtype != "auto" else ("bf16" if device.type == "cuda" else "float32")
        hf, self.tok = load_model(model if model is not None else cfg.model, tokenizer, dtype=dtype, device=device,
                                  **({} if model is not None else cfg.source_kwargs()))
        if self.tok is None:
            raise ConfigError("pass the tokenizer with the model object")
        self.source = resolve(hf).fingerprint().get("source")  # the commit a hub id resolved to, kept for resume
        self.device = device
        torch.manual_seed(cfg.seed)
        self.ref = None
        if cfg.beta > 0 and cfg.trainable == "full":
            self.ref = copy.deepcopy(hf).eval().requires_grad_(False)  # frozen reference, only when KL is on
        if cfg.gradient_checkpointing:
            # non-reentrant checkpointing needs no input that requires grad, so it works under adapters too
            if hasattr(hf, "activation_checkpointing_enable"):  # transformers >= 5.x name
                hf.activation_checkpointing_enable({"use_reentrant": False})
            else:
                hf.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.model, self.params = prepare_policy(hf, cfg)
        self.opt = torch.optim.AdamW(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.opened = opens_thought(format_prompt(self.tok, "?", cfg.thinking))  # the template pre-fills <think>
        self.reward = rewards if rewards is not None else default_rewards(cfg, device, self.opened or None)
        named = dict(zip(self.reward.names, self.reward.rewards))
        self.accuracy = named.get("accuracy") or AccuracyReward()
        self.sampler = ckpt.PromptSampler(len(self.records), cfg.seed)
        self.monitor = CollapseMonitor(cfg.collapse_min_share, cfg.collapse_max_drop)
        self._prompt_ids: dict[int, list[int]] = {}
        self.step = 0
        self.note: str | None = None  # what opening the run folder has to say (e.g. nothing to resume)

    # --- run directory ---------------------------------------------------------------------------

    def _open_run(self, resume: bool) -> None:
        resolved = {"config": to_dict(self.cfg), "data_sha256": digest(self.records), "records": len(self.records),
                    "rewards": self.reward.names, "reward_weights": self.reward.weights,
                    "language_path": language_path(self.cfg.target), "thought_prefilled": self.opened,
                    "trainable_params": sum(p.numel() for p in self.params), "source": self.source}
        remove_stale_temps(self.run / ckpt.CKPT_DIR)  # checkpoint writes cut short by a killed run
        dirs = ckpt.checkpoint_dirs(self.run)
        opened = open_run(self.run, "rl", resolved, resume=resume, checkpoints=dirs, may_change=RESUMABLE_CHANGES,
                          defaults=to_dict(RLConfig()),
                          force=self.cfg.force)
        self.note = opened.note
        if opened.resuming and dirs:
            state = load_checkpoint(dirs[-1], self.model, self.opt)
            self.step = state["step"]
            self.sampler.load_state_dict(state["sampler"])
            self.monitor.load_state_dict(state["monitor"])
        opened.commit()
        trim_jsonl(self.run / "metrics.jsonl", self.step)

    def _save(self, share: float | None) -> None:
        self.monitor.checkpointed(self.step, share)
        ckpt.save(self.run, self.step, self.model, self.opt,
                  {"sampler": self.sampler.state_dict(), "monitor": self.monitor.state_dict()})
        ckpt.prune(self.run, self.cfg.keep_checkpoints, protect=self.monitor.best_step)

    # --- one step --------------------------------------------------------------------------------

    def _prompts(self, idx: list[int]) -> list[list[int]]:
        for i in idx:
            if i not in self._prompt_ids:
                self._prompt_ids[i] = encode_prompts(self.tok, [self.records[i]["prompt"]], self.cfg.max_prompt_length,
                                                     self.cfg.thinking)[0]
        return [self._prompt_ids[i] for i in idx]

    def _sample(self, n: int, round_: int, seen: dict[str, list]) -> tuple[list[tuple], torch.Tensor]:
        """Sample and score `n` groups; returns ([(rollout, rewards (G,), component dict)], keep mask)."""
        cfg, G = self.cfg, self.cfg.group_size
        idx = self.sampler.draw(n)
        recs = [self.records[i] for i in idx]
        seed = (cfg.seed * 1_000_003 + self.step * 1_009 + round_) % (2**63)
        ro = generate(self.model, self.tok, self._prompts(idx), G, cfg.max_completion_length, cfg.temperature,
                      cfg.top_p, cfg.generation_batch_size, seed, cfg.mask_truncated)
        cols = {k: [r.get(k) for r in recs for _ in range(G)] for k in set().union(*recs) if k != "prompt"}
        prompts = [r["prompt"] for r in recs for _ in range(G)]
        comps = self.reward.components(prompts, ro.texts, **cols)
        acc = comps.get("accuracy") or checked("accuracy", self.accuracy(prompts=prompts, completions=ro.texts, **cols), len(ro))
        total = [sum(w * comps[k][i] for k, w in zip(self.reward.names, self.reward.weights)) for i in range(len(ro))]
        for k, v in comps.items():
            seen.setdefault(k, []).extend(v)
        seen.setdefault("_acc", []).extend(acc)
        seen.setdefault("_texts", []).extend(ro.texts)
        seen.setdefault("_langs", []).extend(cols.get("lang", [None] * len(ro)))
        seen.setdefault("_len", []).extend(ro.completion_mask.sum(1).tolist())
        groups = [(ro.rows(list(range(j * G, (j + 1) * G))), torch.tensor(total[j * G:(j + 1) * G]))
                  for j in range(len(recs))]
        keep = keep_groups(torch.tensor(acc), G, cfg.filter_low, cfg.filter_high)
        return groups, keep

    @property
    def _shared_prompts(self) -> bool:
        # Gradient checkpointing in transformers drops the KV cache the shared prompt pass hands on,
        # unless a layer may keep it (transformers >= 5.x), which `group_logprobs`' replay-safe cache allows.
        return not self.cfg.gradient_checkpointing or shares_prompts_under_checkpointing()

    def _micro_batch(self) -> int:
        """Rows a forward pass: `micro_batch_size`, rounded down to whole groups (at least one) when prompts are shared."""
        mb, G = self.cfg.micro_batch_size, self.cfg.group_size
        return max(G, mb - mb % G) if self._shared_prompts else mb

    def _score(self, model: Any, part: Rollout) -> torch.Tensor:
        """Log-probs (n, C) of a micro-batch's completions (whole groups when prompts are shared)."""
        if self._shared_prompts:
            return group_logprobs(model, part, self.cfg.group_size, self.cfg.temperature, self.device)
        return token_logprobs(model, part, self.cfg.temperature, self.device)

    def _logprobs(self, model: Any, ro: Rollout) -> torch.Tensor:
        """Log-probs (N, C) in micro-batches, without grad."""
        mb = self._micro_batch()
        with torch.no_grad():
            return torch.cat([self._score(model, ro.rows(list(range(i, min(i + mb, len(ro))))))
                              for i in range(0, len(ro), mb)]).cpu()

    def _update(self, ro: Rollout, adv: torch.Tensor) -> dict[str, float]:
        """`num_iterations` optimizer steps on the batch; returns loss and token statistics."""
        cfg, mb = self.cfg, self._micro_batch()
        mask = ro.completion_mask.float()  # (N, C)
        old = self._logprobs(self.model, ro) if cfg.num_iterations > 1 else None
        ref = None
        if cfg.beta > 0:
            if self.ref is not None:
                ref = self._logprobs(self.ref, ro)
            else:  # adapters: the base model is the policy with its adapter switched off
                with self.model.disable_adapter():
                    ref = self._logprobs(self.model, ro)
        n_tok, N = float(mask.sum().clamp(min=1)), len(ro)
        stats = {"loss": 0.0, "kl": 0.0, "clip_low": 0.0, "clip_high": 0.0}
        self.model.train()
        for _ in range(cfg.num_iterations):
            self.opt.zero_grad(set_to_none=True)
            loss_sum = 0.0
            for i in range(0, N, mb):
                rows = list(range(i, min(i + mb, N)))
                part = ro.rows(rows)
                m = mask[rows].to(self.device)
                logp = self._score(self.model, part)  # (n, C)
                old_lp = old[rows].to(self.device) if old is not None else logp.detach()
                ref_lp = ref[rows].to(self.device) if ref is not None else None
                loss, info = micro_batch_loss(cfg, logp, old_lp, adv[rows].to(self.device), m, ref_lp, n_tok, N)
                loss.backward()
                loss_sum += float(loss.detach())
                for k in ("kl", "clip_low", "clip_high"):
                    stats[k] += float((info[k].float() * m).sum()) / n_tok / cfg.num_iterations
            if cfg.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
            self.opt.step()
            stats["loss"] += loss_sum / cfg.num_iterations
        self.opt.zero_grad(set_to_none=True)
        self.model.eval()
        if not all(math.isfinite(v) for v in stats.values()):
            raise KolangError(f"step {self.step}: the loss became {stats['loss']}; lower --lr or check the rewards")
        stats["clip_fraction"] = stats["clip_low"] + stats["clip_high"]
        return stats

    def _shares(self, texts: list[str], langs: list[str | None]) -> dict[str, float | None]:
        """Target-language shares of the step's completions: `target_share` of what the language reward scores
        (`--language-part`), and `target_share_thought` / `target_share_answer` of each part."""
        cfg, opened = self.cfg, self.opened or None
        out = {f"target_share_{part}": target_share(texts, langs, cfg.target, part, opened) for part in ("thought", "answer")}
        part = cfg.language_part
        out["target_share"] = out[f"target_share_{part}"] if part != "both" else target_share(texts, langs, cfg.target,
                                                                                               part, opened)
        return {"target_share": out.pop("target_share"), **out}

    def _collapse_share(self, metrics: dict[str, Any]) -> float | None:
        """The share the collapse monitor bounds (`--collapse-share`)."""
        part = self.cfg.collapse_share
        return metrics["target_share" if part == "reward" else f"target_share_{part}"]

    def train_step(self) -> dict[str, Any]:
        """Run one step and return its metrics line (not yet written)."""
        cfg, t0 = self.cfg, time.perf_counter()
        seen: dict[str, list] = {}
        filled = fill_batch(lambda n, r: self._sample(n, r, seen), cfg.prompts_per_step, cfg.filter_rounds,
                            cfg.filter_groups, cfg.on_all_filtered, self.step)
        shares = self._shares(seen["_texts"], seen["_langs"])
        metrics: dict[str, Any] = {"step": self.step}
        if filled.groups:
            ro = Rollout.cat([g[0] for g in filled.groups], self.tok.pad_token_id or 0)
            rewards = torch.cat([g[1] for g in filled.groups])  # (N,)
            adv = group_advantages(rewards, cfg.group_size, cfg.scale_rewards)
            metrics.update(self._update(ro, adv))
            metrics["reward"] = float(rewards.mean())
        else:
            metrics.update(loss=None, reward=None, kl=None, clip_low=None, clip_high=None, clip_fraction=None)
        for k in self.reward.names:
            metrics[f"reward/{k}"] = sum(seen[k]) / len(seen[k])
        gen_tokens = sum(seen["_len"])
        metrics.update(accuracy=sum(seen["_acc"]) / len(seen["_acc"]), **shares,
                       kept_fraction=filled.kept_fraction, groups_kept=len(filled.groups), groups_seen=filled.seen,
                       completion_length=gen_tokens / len(seen["_len"]))
        dt = time.perf_counter() - t0
        metrics.update(step_time_s=round(dt, 4), tokens_per_s=round(gen_tokens / max(dt, 1e-9), 2))
        return metrics

    # --- the loop --------------------------------------------------------------------------------

    def train(self, resume: bool = False, stop_after: int | None = None) -> dict[str, Any]:
        """Run to `cfg.steps` (or `stop_after` steps in total, as an interruption would); returns a summary."""
        cfg = self.cfg
        self._open_run(resume)
        end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
        stopped = None
        self.model.eval()
        while self.step < end:
            metrics = self.train_step()
            self.step += 1
            alarm = self.monitor.update(metrics["step"], self._collapse_share(metrics))
            metrics["collapse"] = alarm
            append_jsonl(self.run / "metrics.jsonl", metrics)
            if self.on_step is not None:
                self.on_step(self.step, self.model)
            if self.progress is not None:
                self.progress(self.step, metrics)
            if self.step % cfg.save_every == 0 or self.step == cfg.steps:
                self._save(self._collapse_share(metrics))
            if alarm:
                warnings.warn(alarm, stacklevel=2)
                if cfg.collapse_action != "warn":
                    stopped = alarm
                    if cfg.collapse_action == "rollback" and self.monitor.best_step is not None:
                        load_trainable(self.run / ckpt.CKPT_DIR / f"step-{self.monitor.best_step:06d}", self.model)
                        stopped += f"; rolled back to the checkpoint of step {self.monitor.best_step}"
                    break
        summary = {"run_dir": str(self.run), "steps": self.step, "stopped": stopped, "note": self.note}
        if self.step >= cfg.steps or stopped:
            summary["model"] = str(self.save_model())
        return summary

    def save_model(self) -> Path:
        """Write the trained model: a plain HF directory (full) or the PEFT adapter (lora, neurons)."""
        name = "adapter" if hasattr(self.model, "peft_config") else "model"
        with atomic_dir(self.run / name, holds_only(ADAPTER_FILES)) as tmp:
            self.model.save_pretrained(str(tmp))
            self.tok.save_pretrained(str(tmp))
        return self.run / name
