"""kolang's GRPO loop vs `trl.GRPOTrainer` on the same model, data, rewards, group size, lengths and steps.

A random-init Qwen2 model with the byte tokenizer; bundled Korean word problems; accuracy and
language-consistency rewards (the same callables in both); token-level loss, no KL, one
generation per optimizer step, difficulty filtering off in kolang so both see the same batch
shape. Both sides draw the same prompts in the same order (TRL reads them unshuffled in kolang's
draw order; the parent checks the prompts the rewards saw) as the same text (`format_prompt`), and
stop on the same ids (`kolang.generation.eos_ids`, `<|endoftext|>` and `<|im_end|>`, written into the
model's generation config, which TRL reads). Each side runs in a fresh process so peak-memory
figures do not mix.

    python benchmarks/grpo_vs_trl.py [--layers 4 --hidden 256 --width 1024 --prompts 4 --group 4 --steps 10]

kolang's edge comes from two things TRL does not do: each prompt is prefilled once for its G
samples during generation, and its forward/backward pass is shared by the G completions in the
update (exact; under gradient checkpointing too, through a cache the backward replay cannot extend twice,
`kolang.rl.rollout.ReplaySafeCache`).

Step time is the median over the steps after the first (warm-up), in wall time and in the
process's CPU time (all its threads; less moved by other work on a shared machine, unless the
machine is short of cores for `--threads`). Generated tokens/s is the completion tokens of those
steps over their wall time, and the mean completion length is printed beside it: a random-init
model over 260 ids draws one of the two stop ids about once in 130 tokens, so many completions end
before the length limit and each side's count is the tokens it really generated. Peak memory is the
rise of the process's peak RSS (VmHWM, reset via /proc/self/clear_refs) over its size before
training, or `torch.cuda.max_memory_allocated` on a GPU.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

SEED, RECORDS = 0, 64


def _rss_kb(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def _records(n: int) -> list[dict]:
    import random

    from kolang.data import tasks

    rng = random.Random(0)
    return tasks.rl_records([tasks.make_problem(rng.choice(tasks.LEVELS), rng) for _ in range(n)], "ko")


def _model(a: argparse.Namespace):
    """The tiny model, stopping on every id kolang stops on (TRL reads the generation config's eos ids)."""
    from kolang.generation import eos_ids
    from kolang.tiny import byte_tokenizer, tiny_model

    model = tiny_model("qwen2", layers=a.layers, hidden=a.hidden, width=a.width)
    model.generation_config.eos_token_id = sorted(eos_ids(byte_tokenizer(), model))
    return model


class _Logged:
    """A reward that also logs the prompts it scores, so the parent can check both sides saw the same ones."""

    def __init__(self, fn, log: list[str], fmt=lambda p: p) -> None:
        self.fn, self.log, self.fmt, self.__name__ = fn, log, fmt, fn.__name__

    def __call__(self, prompts, completions, **kw):
        self.log.extend(self.fmt(p) for p in prompts)
        return self.fn(prompts=prompts, completions=completions, **kw)


def _summary(wall: list[float], cpu: list[float], tokens: list[float], prompts: list[str], peak: float) -> dict:
    """Medians over the steps after the first (warm-up), generated tokens over their wall time."""
    return {"step_s": statistics.median(wall[1:]), "cpu_s": statistics.median(cpu[1:]),
            "tokens_per_s": sum(tokens[1:]) / sum(wall[1:]), "tokens": sum(tokens), "peak_mib": peak,
            "prompts": prompts}


def _mem_start(device: torch.device) -> int:
    from kolang.rl.rewards import AccuracyReward

    AccuracyReward()(prompts=[""], completions=["The answer is 1."], answer=["1"])  # imports sympy etc. before measuring
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated()
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak RSS to the current RSS
    return _rss_kb("VmRSS:") * 1024


def _mem_peak(device: torch.device, base: int) -> float:
    peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else _rss_kb("VmHWM:") * 1024
    return (peak - base) / 2**20


def run_kolang(a: argparse.Namespace, device: torch.device) -> dict:
    from kolang.data.chat import format_prompt
    from kolang.rl.config import RLConfig
    from kolang.rl.rewards import AccuracyReward, LanguageConsistencyReward, WeightedReward
    from kolang.rl.trainer import GRPOTrainer
    from kolang.tiny import byte_tokenizer

    tok, out = byte_tokenizer(), Path(tempfile.mkdtemp()) / "run"
    cfg = RLConfig(out=str(out), steps=a.steps, prompts_per_step=a.prompts, group_size=a.group,
                   max_prompt_length=1024, max_completion_length=a.length, generation_batch_size=a.prompts * a.group,
                   micro_batch_size=a.prompts * a.group, lr=1e-6, filter_groups=False, save_every=10**6,
                   threads=a.threads, device=str(device), dtype="float32", epsilon_high=0.2, seed=SEED,
                   gradient_checkpointing=a.checkpointing)  # TRL truncates no prompt, so neither does kolang here
    seen: list[str] = []
    rewards = WeightedReward([_Logged(AccuracyReward(), seen, lambda p: format_prompt(tok, p)),
                              LanguageConsistencyReward("ko")])
    tr = GRPOTrainer(cfg, model=_model(a), tokenizer=tok, records=_records(RECORDS), rewards=rewards)
    tr._open_run(False)
    base = _mem_start(device)
    wall, cpu, tokens = [], [], []
    for _ in range(a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        m = tr.train_step()
        tr.step += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        tokens.append(m["completion_length"] * a.prompts * a.group)
    return _summary(wall, cpu, tokens, seen, _mem_peak(device, base))


def run_trl(a: argparse.Namespace, device: torch.device) -> dict:
    import datasets
    import transformers
    import trl

    from kolang.data.chat import format_prompt
    from kolang.rl.checkpoint import PromptSampler
    from kolang.rl.rewards import AccuracyReward, LanguageConsistencyReward
    from kolang.tiny import byte_tokenizer

    wall: list[float] = []
    cpu: list[float] = []

    class Timer(transformers.TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_step_end(self, args, state, control, **kw):
            if device.type == "cuda":
                torch.cuda.synchronize()
            wall.append(time.perf_counter() - self.t0)
            cpu.append(time.process_time() - self.c0)

    tok, recs = byte_tokenizer(), _records(RECORDS)
    # kolang's prompts in kolang's order (its sampler's draws), as the text kolang feeds the model
    order = PromptSampler(len(recs), SEED).draw(a.prompts * a.steps)
    ds = datasets.Dataset.from_list([{**recs[i], "prompt": format_prompt(tok, recs[i]["prompt"])} for i in order])
    args = trl.GRPOConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=a.prompts * a.group,
                          num_generations=a.group, max_completion_length=a.length, max_steps=a.steps, learning_rate=1e-6,
                          report_to=[], use_cpu=device.type == "cpu", logging_steps=1, save_strategy="no", bf16=False,
                          beta=0.0, loss_type="dapo", seed=SEED, dataloader_num_workers=0, shuffle_dataset=False,
                          gradient_checkpointing=a.checkpointing)
    seen: list[str] = []
    trainer = trl.GRPOTrainer(model=_model(a).to(device), args=args, train_dataset=ds, processing_class=tok,
                              reward_funcs=[_Logged(AccuracyReward(), seen), LanguageConsistencyReward("ko")],
                              callbacks=[Timer()])
    base = _mem_start(device)
    trainer.train()
    lengths = [e["completions/mean_length"] for e in trainer.state.log_history if "completions/mean_length" in e]
    tokens = [n * a.prompts * a.group for n in lengths]
    return _summary(wall, cpu, tokens, seen, _mem_peak(device, base))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--prompts", type=int, default=4, help="prompts per step")
    p.add_argument("--group", type=int, default=4, help="completions per prompt (G)")
    p.add_argument("--length", type=int, default=64, help="max completion tokens")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--checkpointing", action=argparse.BooleanOptionalAction, default=False,
                   help="gradient checkpointing on both sides (kolang's default is off, TRL's on)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    p.add_argument("--one", choices=("kolang", "trl"), help=argparse.SUPPRESS)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.one:
        fn = run_kolang if a.one == "kolang" else run_trl
        print(json.dumps(fn(a, torch.device(a.device))))
        return
    results = {}
    for side in ("kolang", "trl"):
        cmd = [sys.executable, __file__, *[x for x in sys.argv[1:] if x != "--json"], "--one", side]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit(f"{side} failed:\n{res.stderr[-3000:]}")
        results[side] = json.loads(res.stdout.strip().splitlines()[-1])
    k, t = results["kolang"], results["trl"]
    if not k["prompts"] or k["prompts"] != t["prompts"]:
        sys.exit("kolang and TRL scored different prompts; the comparison is void")
    n = a.steps * a.prompts * a.group
    print(f"model: qwen2 {a.layers} layers, hidden {a.hidden}, width {a.width}; {a.prompts} prompts x G={a.group}, "
          f"{a.length} new tokens, {a.steps} steps on {a.device}, {a.threads} thread(s), gradient checkpointing "
          f"{'on' if a.checkpointing else 'off'}; same prompts on both sides")
    print(f"{'':10s}{'step s':>9s}{'CPU s':>9s}{'gen tok/s':>11s}{'mean len':>10s}{'peak MiB':>10s}")
    for name, r in results.items():
        print(f"{name:10s}{r['step_s']:9.3f}{r['cpu_s']:9.3f}{r['tokens_per_s']:11.1f}{r['tokens'] / n:10.1f}"
              f"{r['peak_mib']:10.1f}")
    print(f"{'trl/kolang':10s}{t['step_s'] / k['step_s']:9.2f}{t['cpu_s'] / k['cpu_s']:9.2f}"
          f"{t['tokens_per_s'] / k['tokens_per_s']:11.2f}{t['tokens'] / k['tokens']:10.2f}"
          f"{t['peak_mib'] / max(k['peak_mib'], 1e-9):10.2f}")
    if a.json:
        config = {key: v for key, v in vars(a).items() if key not in ("one", "json")}
        print(json.dumps({"config": config, **results}))


if __name__ == "__main__":
    main()
