"""What drift tracking at its default interval costs a GRPO run on the model organism.

The same GRPO run (the demo's RL stage: tuned organism, Korean prompts, accuracy + language
rewards, 8 prompts x G=6, 64 new tokens) is trained with and without drift tracking of the
demo's Korean neuron set, in one process, the two variants interleaved repeat by repeat (the
order alternating) so that a change in machine load hits both. Both runs use the same seed and so
the same samples and updates: drift tracking reads the model and never touches its RNG.

    python benchmarks/drift_overhead.py [--demo kolang-demo --steps 30 --repeats 3]

`--demo` is a finished `kolang demo` folder (its `tune/merged` model, `neurons` set and
`data/rl.jsonl`). The wall time of a run is from attaching the tracker (the start's snapshot is a
cost of tracking) to the end of `train()`. Reported: the median wall time of each variant, their
ratio, and the tracker's own time (the `measure_s` of every drift.jsonl line, start included) as
a share of the tracked run, which is the load-robust figure: on a shared machine, identical runs
differ in wall time by more than the tracker costs, so the wall-time ratio (the median of each
repeat's on/off ratio) bounds the cost only loosely. The goal is at most 5%.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch


def one_run(a: argparse.Namespace, tracked: bool) -> dict:
    """Train one GRPO run; its wall time and, if tracked, the tracker's own time."""
    from kolang.analysis.config import DriftConfig
    from kolang.rl.config import RLConfig
    from kolang.io import read_jsonl
    from kolang.rl.drift import DRIFT_FILE, attach_neurons
    from kolang.rl.trainer import GRPOTrainer

    demo = a.demo
    out = Path(tempfile.mkdtemp()) / "run"
    cfg = RLConfig(model=str(demo / "tune" / "merged"), data=str(demo / "data" / "rl.jsonl"), out=str(out),
                   target="ko", steps=a.steps, prompts_per_step=8, group_size=6, max_completion_length=64, lr=3e-5,
                   filter_groups=True, on_all_filtered="skip", save_every=10**6, seed=0, threads=a.threads)
    trainer = GRPOTrainer(cfg)
    t0 = time.perf_counter()
    if tracked:
        attach_neurons(trainer, demo / "neurons", DriftConfig(every=a.every))
    trainer.train()
    wall = time.perf_counter() - t0
    measures = [r["measure_s"] for r in read_jsonl(out / DRIFT_FILE)] if tracked else []
    return {"wall_s": wall, "drift_s": sum(measures), "measurements": len(measures)}


def main() -> None:
    from kolang.analysis.config import DEFAULT_EVERY

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--demo", type=Path, default=Path("kolang-demo"), help="a finished `kolang demo` folder")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--every", type=int, default=DEFAULT_EVERY, help="drift interval (default: kolang's default)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    a = p.parse_args()
    need = [a.demo / "tune" / "merged" / "config.json", a.demo / "neurons", a.demo / "data" / "rl.jsonl"]
    if missing := [str(x) for x in need if not x.exists()]:
        sys.exit(f"{a.demo} is not a finished demo folder (no {missing[0]}); run `kolang demo --out {a.demo}` first")
    torch.set_num_threads(a.threads)
    runs: dict[bool, list[dict]] = {False: [], True: []}
    for r in range(a.repeats):
        for tracked in ((False, True) if r % 2 == 0 else (True, False)):
            res = one_run(a, tracked)
            runs[tracked].append(res)
            print(f"repeat {r}: drift {'on ' if tracked else 'off'} {res['wall_s']:7.2f} s"
                  + (f"  (tracker {res['drift_s']:.2f} s in {res['measurements']} measurements)" if tracked else ""),
                  flush=True)
    off = statistics.median(x["wall_s"] for x in runs[False])
    on = statistics.median(x["wall_s"] for x in runs[True])
    paired = statistics.median(t["wall_s"] / f["wall_s"] for t, f in zip(runs[True], runs[False], strict=True))
    own = statistics.median(x["drift_s"] / x["wall_s"] for x in runs[True])
    print(f"{a.steps} GRPO steps on the organism, drift every {a.every} steps, {a.repeats} repeats, {a.threads} threads")
    print(f"median wall: off {off:.2f} s, on {on:.2f} s; median of the repeats' on/off ratios {paired:.3f}")
    print(f"tracker's own time: {100 * own:.1f}% of the tracked run (goal: at most 5%)")
    if a.json:
        print(json.dumps({"config": {"steps": a.steps, "repeats": a.repeats, "every": a.every, "threads": a.threads},
                          "off_s": off, "on_s": on, "paired_on_over_off": paired, "tracker_share": own,
                          "runs": {"off": runs[False], "on": runs[True]}}))


if __name__ == "__main__":
    main()
