"""kolang's GRPO loop vs `trl.GRPOTrainer` on the same model, data, rewards, group size, lengths and steps.

A random-init Qwen2 model with the byte tokenizer; bundled Korean word problems; accuracy and
language-consistency rewards (the same callables in both); token-level loss, no KL, one
generation per optimizer step, difficulty filtering off in kolang so both see the same batch
shape. Each side runs in a fresh process so peak-memory figures do not mix.

    python benchmarks/grpo_vs_trl.py [--layers 4 --hidden 256 --width 1024 --prompts 4 --group 4 --steps 4]

kolang's edge comes from two things TRL does not do: each prompt is prefilled once for its G
samples during generation, and its forward/backward pass is shared by the G completions in the
update (exact; off under gradient checkpointing, which drops the KV cache it needs).

Step time is the median over the steps after the first (warm-up); generated tokens/s is the
completion tokens of those steps over their time. Peak memory is the rise of the process's peak RSS
(VmHWM, reset via /proc/self/clear_refs) over its size before training, or
`torch.cuda.max_memory_allocated` on a GPU. Random-init models rarely emit eos, so completions
usually run to the length limit on both sides.
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
    from kolang.rl.config import RLConfig
    from kolang.rl.rewards import AccuracyReward, LanguageConsistencyReward, WeightedReward
    from kolang.rl.trainer import GRPOTrainer
    from kolang.tiny import byte_tokenizer, tiny_model

    model = tiny_model("qwen2", layers=a.layers, hidden=a.hidden, width=a.width)
    out = Path(tempfile.mkdtemp()) / "run"
    cfg = RLConfig(out=str(out), steps=a.steps, prompts_per_step=a.prompts, group_size=a.group,
                   max_completion_length=a.length, generation_batch_size=a.prompts * a.group,
                   micro_batch_size=a.prompts * a.group, lr=1e-6, filter_groups=False, save_every=10**6,
                   threads=a.threads, device=str(device), dtype="float32", epsilon_high=0.2,
                   gradient_checkpointing=a.checkpointing)
    rewards = WeightedReward([AccuracyReward(), LanguageConsistencyReward("ko")])
    tr = GRPOTrainer(cfg, model=model, tokenizer=byte_tokenizer(), records=_records(64), rewards=rewards)
    tr._open_run(False)
    base = _mem_start(device)
    times, tokens = [], []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        m = tr.train_step()
        tr.step += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        tokens.append(m["completion_length"] * a.prompts * a.group)
    return {"step_s": statistics.median(times[1:]), "tokens_per_s": sum(tokens[1:]) / sum(times[1:]),
            "peak_mib": _mem_peak(device, base)}


def run_trl(a: argparse.Namespace, device: torch.device) -> dict:
    import datasets
    import transformers
    import trl

    from kolang.rl.rewards import AccuracyReward, LanguageConsistencyReward
    from kolang.tiny import byte_tokenizer, tiny_model

    times: list[float] = []

    class Timer(transformers.TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - self.t0)

    model = tiny_model("qwen2", layers=a.layers, hidden=a.hidden, width=a.width).to(device)
    ds = datasets.Dataset.from_list(_records(64))
    args = trl.GRPOConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=a.prompts * a.group,
                          num_generations=a.group, max_completion_length=a.length, max_steps=a.steps, learning_rate=1e-6,
                          report_to=[], use_cpu=device.type == "cpu", logging_steps=1, save_strategy="no", bf16=False,
                          beta=0.0, loss_type="dapo", seed=0, dataloader_num_workers=0,
                          gradient_checkpointing=a.checkpointing)
    trainer = trl.GRPOTrainer(model=model, reward_funcs=[AccuracyReward(), LanguageConsistencyReward("ko")], args=args,
                              train_dataset=ds, processing_class=byte_tokenizer(), callbacks=[Timer()])
    base = _mem_start(device)
    trainer.train()
    lengths = [e["completions/mean_length"] for e in trainer.state.log_history if "completions/mean_length" in e]
    tokens = [n * a.prompts * a.group for n in lengths]
    return {"step_s": statistics.median(times[1:]), "tokens_per_s": sum(tokens[1:]) / sum(times[1:]),
            "peak_mib": _mem_peak(device, base)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--prompts", type=int, default=4, help="prompts per step")
    p.add_argument("--group", type=int, default=4, help="completions per prompt (G)")
    p.add_argument("--length", type=int, default=64, help="max completion tokens")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--checkpointing", action=argparse.BooleanOptionalAction, default=False,
                   help="gradient checkpointing on both sides (kolang's default is off, TRL's on; on, kolang cannot "
                        "share a group's prompt pass)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--one", choices=("kolang", "trl"), help=argparse.SUPPRESS)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.one:
        fn = run_kolang if a.one == "kolang" else run_trl
        print(json.dumps(fn(a, torch.device(a.device))))
        return
    results = {}
    for side in ("kolang", "trl"):
        cmd = [sys.executable, __file__, *sys.argv[1:], "--one", side]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit(f"{side} failed:\n{res.stderr[-3000:]}")
        results[side] = json.loads(res.stdout.strip().splitlines()[-1])
    k, t = results["kolang"], results["trl"]
    print(f"model: qwen2 {a.layers} layers, hidden {a.hidden}, width {a.width}; {a.prompts} prompts x G={a.group}, "
          f"{a.length} new tokens, {a.steps} steps on {a.device}, gradient checkpointing {'on' if a.checkpointing else 'off'}")
    print(f"{'':10s}{'step s':>10s}{'gen tok/s':>12s}{'peak MiB':>10s}")
    for name, r in results.items():
        print(f"{name:10s}{r['step_s']:10.3f}{r['tokens_per_s']:12.1f}{r['peak_mib']:10.1f}")
    print(f"{'trl/kolang':10s}{t['step_s'] / k['step_s']:10.2f}{t['tokens_per_s'] / k['tokens_per_s']:12.2f}"
          f"{t['peak_mib'] / max(k['peak_mib'], 1e-9):10.2f}")


if __name__ == "__main__":
    main()
