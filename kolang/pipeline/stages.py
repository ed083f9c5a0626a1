"""The stage runners the demo and the experiment share, and the ledger that lets a rerun resume.

Each runner takes paths and settings, runs one stage through the library's own API (the same
calls a user makes), writes its outputs atomically under the folder it is given, and returns the
small JSON summary the ledger records.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from kolang.analysis.config import (
    COMPLETIONS_FILE,
    DRIFT_FILES,
    EVAL_FILE,
    EVAL_FILES,
    VALIDATION_FILES,
    DriftConfig,
    EvalConfig,
    ValidateConfig,
)
from kolang.analysis.drift import DriftTracker
from kolang.analysis.evaluate import evaluate_model, problem_records
from kolang.analysis.plots import drift_figure, validation_figure
from kolang.analysis.validate import validate
from kolang.config import to_dict
from kolang.data.codeswitch import CodeSwitchConfig, codeswitch_records
from kolang.data.discovery import load_discovery
from kolang.data.io import write_jsonl
from kolang.data.tasks import LANGS, discovery_records, export_jsonl, rl_records, sft_records
from kolang.errors import ConfigError, RunDirError
from kolang.io import (
    atomic_dir,
    atomic_write_json,
    atomic_write_text,
    check_writable,
    exclusive,
    holds_only,
    json_text,
    read_jsonl,
    require_replaceable,
)
from kolang.models import load_model
from kolang.neurons.config import DiscoverConfig
from kolang.neurons.discover import discover
from kolang.organism.config import get_config
from kolang.pipeline.config import Budget
from kolang.pipeline.progress import Show, Tick, ticking
from kolang.rl.config import RLConfig
from kolang.rl.drift import DRIFT_FILE, attach_neurons
from kolang.rl.trainer import GRPOTrainer
from kolang.tuning.config import TuneConfig
from kolang.tuning.sft import tune

Say = Callable[[str], None]


# Bump when a stage writes something different for the same settings, so older folders are not reused.
STAGES_VERSION = 5


class Claimed(Exception):
    """The stage is being run by another live process working in the same folder."""


# How often a process waiting for a stage another process runs looks at the ledger again.
POLL_S = 5.0


def _me() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname()}


def _held_by_another(owner: Any) -> bool:
    """Whether a ledger claim belongs to another process that still runs."""
    return isinstance(owner, dict) and owner != _me() and _alive(owner)


def _alive(owner: dict[str, Any]) -> bool:
    """Whether the process that claimed a stage still runs: a dead one's claim is stale. A claim made on another
    host (a folder shared over a network file system) cannot be checked, so it is honoured."""
    if owner.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, ValueError, KeyError):
        return True
    return True


class Stages:
    """The demo folder's ledger of finished stages (`stages.json`), so a rerun resumes where it stopped.

    The ledger records the settings its stages were run with (`key`); a rerun with other settings is
    refused rather than silently reusing stages that no longer match them. `writes` names the
    entries the run puts in its folder: `fresh` deletes those only, and a folder holding anything
    else (not a kolang run folder) is refused before anything is written or deleted.

    Several processes may work in one folder (a second `kolang experiment` with the same options, one a GPU):
    each stage is claimed in the ledger, under a lock on the folder, before it runs, so no stage runs twice;
    a process that finds a stage claimed by another live process waits for it, or with `wait=False` is told
    so (`Claimed`) and can take other work. The claim of a process that died is taken over.
    """

    def __init__(self, out: Path, fresh: bool, key: dict[str, Any], writes: Collection[str] = ()) -> None:
        self.out, self.file = out, out / "stages.json"
        check_writable(out)
        names = {"stages.json", *writes}
        self.key = {"version": STAGES_VERSION, **key}
        if out.exists():
            require_replaceable(out, holds_only(names), "--out")
            if fresh:
                with self._locked():
                    try:
                        stored = self._read(check=False)
                    except RunDirError:  # a garbled ledger: what --fresh is for
                        stored = {}
                    if busy := self._running(stored):
                        raise RunDirError(f"another kolang process (pid {busy[0]['pid']}) is running stages in "
                                          f"{out}; stop it before --fresh")
                    for entry in out.iterdir():  # only what a run of this kind writes (just checked)
                        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        out.mkdir(parents=True, exist_ok=True)
        with self._locked():
            self._ledger = self._read()  # the ledger as last read or written
        self._told: set[str] = set()  # stages already said to be reused

    def _read(self, check: bool = True) -> dict[str, Any]:
        """The ledger on disk ({key, done, running, spans}); refused when it was run with other settings."""
        try:
            stored = json.loads(self.file.read_text(encoding="utf-8")) if self.file.exists() else None
        except (OSError, ValueError) as e:
            raise RunDirError(f"{self.file} cannot be read ({e}); pass --fresh to start over there") from None
        if stored is None:
            return {"key": self.key, "done": {}, "running": {}, "spans": {}}
        if not check:
            return stored if isinstance(stored, dict) else {}
        if not isinstance(stored, dict) or "key" not in stored:
            raise ConfigError(f"{self.out} holds stages from an earlier kolang version; pass --fresh to start over "
                              "there, or choose another --out")
        if stored["key"] != self.key:
            old = stored["key"]
            changed = sorted(k for k in set(old) | set(self.key) if old.get(k) != self.key.get(k))
            raise ConfigError(f"{self.out} holds stages run with other settings ({', '.join(changed)}); "
                              "pass --fresh to start over there, or choose another --out")
        return {"key": stored["key"], "done": stored.get("done", {}), "running": stored.get("running", {}),
                "spans": stored.get("spans", {})}

    @staticmethod
    def _running(stored: dict[str, Any]) -> list[dict[str, Any]]:
        running = stored.get("running") if isinstance(stored, dict) else None
        return [o for o in (running or {}).values() if _held_by_another(o)]

    def _locked(self):
        """An exclusive lock on the run folder (the ledger itself is replaced on every write)."""
        return exclusive(self.out) if self.out.is_dir() else nullcontext()

    @property
    def done(self) -> dict[str, Any]:
        """The finished stages' results, by name."""
        return self._ledger["done"]

    @property
    def spans(self) -> dict[str, list[float]]:
        """When each finished stage ran ([start, end] in Unix seconds; absent for stages an older kolang ran), so
        that a part's wall time can be read back when several processes shared it."""
        return self._ledger["spans"]

    def _write(self, stored: dict[str, Any]) -> None:
        self._ledger = stored
        atomic_write_json(self.file, stored)

    def _claim(self, name: str) -> dict[str, Any] | None:
        """Under the lock: the finished stage's result; or None after claiming it; or `Claimed`."""
        with self._locked():
            stored = self._ledger = self._read()
            if name in stored["done"]:
                return stored["done"][name]
            owner = stored["running"].get(name)
            if _held_by_another(owner):
                raise Claimed(f"{name} is being run by process {owner['pid']} on {owner['host']}")
            stored["running"][name] = _me()
            self._write(stored)
            return None

    def _release(self, name: str, result: dict[str, Any] | None, span: list[float] | None = None) -> None:
        with self._locked():
            stored = self._read()
            if result is not None:
                stored["done"][name] = result
                if span is not None:
                    stored["spans"][name] = span
            if stored["running"].get(name) == _me():
                del stored["running"][name]
            self._write(stored)

    def others(self) -> list[dict[str, Any]]:
        """The other live processes running stages in this folder now ({pid, host} each, once)."""
        with self._locked():
            owners = self._running(self._read())
        return [dict(t) for t in dict.fromkeys(tuple(sorted(o.items())) for o in owners)]

    def refresh(self) -> dict[str, Any]:
        """The finished stages as the ledger on disk has them now (other processes may have added some)."""
        with self._locked():
            self._ledger = self._read()
        return self.done

    def run(self, name: str, fn: Callable[[], dict[str, Any]], say: Say, wait: bool = True) -> dict[str, Any]:
        """`fn()`'s result for stage `name`: from the ledger when finished, else run now and recorded. A stage
        another live process runs is waited for, or with `wait=False` raises `Claimed`."""
        waited = False
        while True:
            try:
                found = self._claim(name)
                break
            except Claimed as e:
                if not wait:
                    raise
                if not waited:
                    say(f"[dim]{e}; waiting for it[/dim]")
                    waited = True
                time.sleep(POLL_S)
        if found is not None:
            if name not in self._told:
                say(f"[dim]{name}: reused from {self.file}[/dim]")
                self._told.add(name)
            return found
        t0, started = time.perf_counter(), time.time()
        result = None
        try:
            result = fn()
            result["seconds"] = round(time.perf_counter() - t0, 1)
        finally:
            self._release(name, result, [round(started, 1), round(time.time(), 1)])
        say(f"{name}: done in {result['seconds']:.0f}s")
        return result


def budget_key(cfg: Budget) -> dict[str, Any]:
    """The settings every stage's output depends on: the `Budget` fields (not, say, which arms or seeds run)."""
    settings = to_dict(cfg)
    return {f.name: settings[f.name] for f in fields(Budget)}


# How the demo and the experiment evaluate: greedy, and avg@4 at temperature 1 without a nucleus cut (what RL
# samples from); the longest organism solution is about 40 tokens.
PIPELINE_EVAL = EvalConfig(samples=4, temperature=1.0, top_p=1.0, max_new_tokens=64, batch_size=256)
# eval_row's rates: (row key, decoding mode, eval.json rate)
ROW_RATES = (("accuracy", "greedy", "accuracy"), ("sampled_accuracy", "sampled", "accuracy"),
             ("pass_at_k", "sampled", "pass@k"), ("korean_share", "greedy", "target_share_thought"),
             ("sampled_korean_share", "sampled", "target_share_thought"))


def eval_dir(model: Any, tok: Any, records: Sequence[dict[str, Any]], out: Path, cfg: EvalConfig,
             source: dict[str, Any], progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """`evaluate_model` on `records`; writes eval.json (with `source`: model and data) and completions.jsonl
    to `out` atomically and returns eval.json's contents."""
    result = evaluate_model(model, tok, records, cfg, progress=progress, keep_completions=True)
    completions = result.pop("completions")
    result = {**source, **result}
    with atomic_dir(out, holds_only(EVAL_FILES)) as tmp:
        atomic_write_json(tmp / EVAL_FILE, result)
        write_jsonl(tmp / COMPLETIONS_FILE, completions)
    return result


def evaluate_dir(model_dir: str, problems, label: str, evals: Path, seed: int, tick: Tick | None = None
                 ) -> dict[str, Any]:
    """Held-out problems asked in Korean and in English, greedy and sampled (`PIPELINE_EVAL`), into
    `evals/<label>/`; returns the row the tables show: each rate's value, and `<rate>_ci` its 95% interval.
    `tick` hears the completions done."""
    model, tok = load_model(model_dir)
    records = problem_records(problems, "ko") + problem_records(problems, "en")
    result = eval_dir(model, tok, records, evals / label, replace(PIPELINE_EVAL, seed=seed),
                      {"model": model_dir, "data": f"{len(problems)} held-out organism problems a language"},
                      progress=None if tick is None else (lambda done, _total: tick(done)))
    return eval_row(label, result)


def shown_evaluation(show: Show | None, name: str, model_dir: str, problems, label: str, evals: Path, seed: int
                     ) -> dict[str, Any]:
    """`evaluate_dir`, its progress shown as `name`: every completion it generates (greedy and the samples, both
    prompt languages) is a unit."""
    units = 2 * len(problems) * (PIPELINE_EVAL.samples + int(PIPELINE_EVAL.greedy))
    with ticking(show, name, units) as tick:
        return evaluate_dir(model_dir, problems, label, evals, seed, tick)


def eval_row(label: str, result: dict[str, Any]) -> dict[str, Any]:
    """The flat row of one evaluation (`ko_accuracy`, `ko_accuracy_ci`, … for each prompt language)."""
    row: dict[str, Any] = {"model": label}
    for lang, s in result["sets"].items():
        if lang == "all":
            continue
        for key, mode, rate in ROW_RATES:
            r = s[mode][rate]
            row[f"{lang}_{key}"] = None if r["value"] is None else round(r["value"], 4)
            row[f"{lang}_{key}_ci"] = [None if r[b] is None else round(r[b], 4) for b in ("low", "high")]
        row[f"{lang}_n"] = s["n"]
    return row


def per_problem(eval_folder: Path, lang: str, mode: str = "sampled", field: str = "correct") -> list[float | None]:
    """Each `lang` problem's `field` (accuracy, or `share_thought`: the target share of its thought) averaged
    over its `mode` completions, in problem order, from an eval folder's completions: the paired values two
    evaluations of the same problems are compared by. None for a problem where the field is never known."""
    scores: dict[int, list[float]] = {}
    for row in read_jsonl(eval_folder / COMPLETIONS_FILE):
        if row["lang"] == lang and row["mode"] == mode:
            known = scores.setdefault(row["problem"], [])
            if row.get(field) is not None:
                known.append(float(row[field]))
    return [sum(v) / len(v) if v else None for _, v in sorted(scores.items())]


def task_splits(cfg: Budget, seed: int = 0, n_unseen: int = 3000):
    """(held-out problems, the organism's training problems, `n_unseen` problems it never saw).

    The first two are exactly the organism's own split (`OrganismConfig.problems`). RL draws its
    prompts from the unseen ones, so GRPO is rewarded for solving new problems rather than for
    recalling the answers of problems the organism was trained on.
    """
    sp = get_config(cfg.size).problems(seed, n_unseen)
    return sp["eval"][: cfg.eval_problems], sp["train"], sp["unseen"]


def write_data(data_dir: Path, train, unseen, seed: int, sft_mix: str = "consistent") -> dict[str, Any]:
    """Discovery texts (problems in both languages), SFT records (`SFT_MIXES`) and validation texts from disjoint
    training problems; Korean RL prompts (levels 2-4) from the `unseen` problems."""
    a, b = (200, 1400) if len(train) >= 1400 else (len(train) // 6, len(train) // 2)
    # Discovery reads what the organism models: its problems and solutions in each language, as the card's
    # measurement does. With 400 bundled sentence pairs added (modelled at 4-4.5 nats a token), AP's set on the
    # shipped organism lowered Korean reasoning NLL when ablated (-0.29 nats; +0.47 from problems alone).
    disc = discovery_records(train[:a])
    mid = (a + b) // 2
    # consistent: the English half keeps English questions answered in English (trained on Korean alone, the
    # tuned neurons also switch English-prompt reasoning to Korean: 0.92-0.97 on the v4 organism).
    sfts = {"consistent": sft_records(train[a:mid], "ko", "ko") + sft_records(train[mid:b], "en", "en"),
            "codeswitch": codeswitch_records(train[a:mid], CodeSwitchConfig(seed=seed)) + sft_records(train[mid:b], "ko", "ko")}
    if sft_mix not in sfts:
        raise ConfigError(f"unknown SFT mix '{sft_mix}'; use one of {', '.join(sfts)}")
    for records in sfts.values():
        random.Random(seed).shuffle(records)
    rl = rl_records([p for p in unseen if p.level >= 2], "ko")
    # Validation reads the organism's problems and reasoning by language, as the organism card measures them:
    # each solution after its chat-formatted question (Korean -> Korean, English -> English), on training
    # problems neither discovery nor SFT used; only the solution is scored.
    held = train[b: b + max(len(train) // 10, 3) if len(train) < 1400 else b + 200]
    val = [{"question": p.question[lang], "text": p.solution(lang), "lang": lang} for p in held for lang in LANGS]
    return {"discovery": str(export_jsonl(data_dir / "discovery.jsonl", disc)),
            "validation": str(export_jsonl(data_dir / "validation.jsonl", val)),
            "sft": str(data_dir / f"sft_{sft_mix}.jsonl"),
            **{f"sft_{mix}": str(export_jsonl(data_dir / f"sft_{mix}.jsonl", recs)) for mix, recs in sfts.items()},
            "rl": str(export_jsonl(data_dir / "rl.jsonl", rl)), "sizes": [len(disc), len(sfts[sft_mix]), len(rl), len(val)]}


def discover_dir(model_dir: str, discovery: str, out: Path, method: str, per_layer: int | None,
                 top_fraction: float | None = None) -> dict[str, Any]:
    """Discover the Korean neurons of `model_dir` on the discovery file; the set is saved to `out`."""
    model, tok = load_model(model_dir)
    texts, langs = load_discovery(discovery)
    ns = discover(model, tok, texts, langs, DiscoverConfig(method=method, per_layer=per_layer,
                                                           top_fraction=None if per_layer else top_fraction))
    ns.save(out)
    return {"neurons": str(out), "count": len(ns), "per_layer": {str(k): v for k, v in ns.counts().items()}}


def tune_dir(model_dir: str, sft: str, neurons: str, out: Path, adapter: str, layers: str, steps: int, lr: float,
             seed: int, tick: Tick | None = None) -> dict[str, Any]:
    """Masked SFT (or a comparator) into run directory `out`; returns the merged model's path and figures.
    `tick` hears the steps done."""
    tcfg = TuneConfig(model=model_dir, data=sft, out=str(out), neurons=neurons, adapter=adapter, layers=layers,
                      steps=steps, lr=lr, batch_size=16, max_length=192, seed=seed, merge=True,
                      save_every=max(steps // 3, 1))
    summary = tune(tcfg, resume=(out / "config.json").exists(),
                   progress=None if tick is None else (lambda step, _loss: tick(step)))
    return {"merged": summary["merged"], "trainable_params": summary["trainable_params"],
            "final_loss": summary["final_loss"]}


RL_GROUP_SIZE = 6  # completions a prompt in the pipeline's GRPO runs


def rl_dir(model_dir: str, rl_data: str, neurons: str, out: Path, steps: int, lr: float, seed: int,
           language_weight: float = 1.0, filter_groups: bool = True, tick: Tick | None = None) -> dict[str, Any]:
    """GRPO with accuracy + Korean-consistency rewards (`language_weight` 0: accuracy alone) into run
    directory `out`, drift of `neurons` tracked; `tick` hears the steps done."""
    rcfg = RLConfig(model=model_dir, data=rl_data, out=str(out), neurons=neurons, target="ko", steps=steps,
                    prompts_per_step=8, group_size=RL_GROUP_SIZE, max_completion_length=64, temperature=1.0, lr=lr,
                    language_weight=language_weight,
                    filter_groups=filter_groups, on_all_filtered="skip", save_every=max(steps // 2, 1), seed=seed,
                    drift_every=max(steps // 4, 1))
    trainer = GRPOTrainer(rcfg, progress=None if tick is None else (lambda step, _metrics: tick(step)))
    attach_neurons(trainer, neurons, DriftConfig(every=rcfg.drift_every))
    summary = trainer.train(resume=(out / "config.json").exists())
    model = trainer.save_model()
    records = read_jsonl(out / DRIFT_FILE) if (out / DRIFT_FILE).is_file() else []
    last = records[-1] if records else {}
    return {"model": str(model), "steps": summary["steps"], "stopped": summary.get("stopped"),
            "final_iou": last.get("iou"), "final_rank_corr": last.get("rank_corr")}


def validate_dir(model: Any, tok: Any, neurons: Any, texts: Sequence[str], langs: Sequence[str], out: Path,
                 cfg: ValidateConfig = ValidateConfig(), contexts: Sequence[str] | None = None) -> dict[str, Any]:
    """Ablate `neurons` and `cfg.n_random` matched random sets; write validation.json and validation.html to `out`."""
    result = validate(model, tok, neurons, texts, langs, n_random=cfg.n_random, seed=cfg.seed,
                      max_length=cfg.max_length, token_budget=cfg.token_budget, min_ratio=cfg.min_ratio,
                      contexts=contexts)
    with atomic_dir(out, holds_only(VALIDATION_FILES)) as tmp:
        atomic_write_json(tmp / "validation.json", result)
        atomic_write_text(tmp / "validation.html", validation_figure(result).to_html(include_plotlyjs=True,
                                                                                      full_html=True))
    return result


def drift_dir(tracker: DriftTracker, start: Any, later: Iterable[tuple[int, str, Any]], out: Path,
              on_record: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Drift of `tracker`'s set from `start` over each (step, label, model) of `later`; writes drift.jsonl
    and drift.html to `out` and returns the records (the start's first)."""
    records = [tracker.start(start)]
    for step, label, model in later:
        rec = {**tracker.measure(step, model), "source": label}
        records.append(rec)
        if on_record is not None:
            on_record(rec)
    with atomic_dir(out, holds_only(DRIFT_FILES)) as tmp:
        atomic_write_text(tmp / DRIFT_FILE, "".join(json_text(r) + "\n" for r in records))
        atomic_write_text(tmp / "drift.html", drift_figure(records).to_html(include_plotlyjs=True, full_html=True))
    return records
