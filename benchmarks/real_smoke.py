"""Every stage at a real model's size on the CPU: a smoke run that must succeed, with the time and peak memory of each.

A random-init Qwen2 with Qwen2.5-0.5B's true dimensions (494M parameters, vocabulary 151,936;
`kolang.tiny.REAL_SHAPES`) and the byte tokenizer is saved once as a plain HF directory; then, in
float32 and in bfloat16, each step runs in its own process, as a user would run it:

  discover   `kolang discover` on 64 bundled texts (32 Korean, 32 English), LAPE over every layer;
  validate   `kolang validate` of that set on the same texts (the set and 3 matched random sets ablated);
  tune       `kolang tune` 2 steps of the neuron adapter on the set's layers 0:8, 4 samples a step;
  rl         `kolang rl` 1 step with the neuron adapter, 2 prompts x G=2 completions of 16 tokens;
  eval       `kolang.analysis.evaluate.evaluate` on 4 word problems, 16 new tokens (the library
             function: the `kolang eval` command is not this script's to call).

    python benchmarks/real_smoke.py [--model qwen2.5-0.5b --dtypes fp32,bf16 --threads 2 --work DIR]

Time is each process's wall time, model loading included. Peak RSS is the process's own maximum
resident set (`ru_maxrss` from `os.wait4`), model included: what the machine must hold for that
step. A step that fails stops the script with its error output.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

EVAL = textwrap.dedent("""
    import json, sys, random
    from kolang.analysis.evaluate import evaluate
    from kolang.data import tasks
    from kolang.models import load_model, set_threads
    set_threads()
    model, tok = load_model(sys.argv[1], dtype=sys.argv[2], device="cpu")
    rng = random.Random(0)
    problems = [tasks.make_problem(rng.choice(tasks.LEVELS), rng) for _ in range(4)]
    print(json.dumps(evaluate(model, tok, problems, "ko", max_new_tokens=16)))
""")


def run(name: str, cmd: list[str], env: dict, log: Path) -> dict:
    """Run one step in its own process (output to `log`): wall seconds and peak RSS (GiB); exits on failure."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own rusage, which Popen.wait would not give
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    text = log.read_text(errors="replace")
    if proc.returncode != 0:
        sys.exit(f"{name} failed ({proc.returncode}), see {log}:\n{text[-4000:]}")
    return {"s": wall, "peak_gib": usage.ru_maxrss / 2**20, "last": (text.strip().splitlines() or [""])[-1]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="qwen2.5-0.5b", help="a kolang.tiny.REAL_SHAPES name, or tiny (to try the script)")
    p.add_argument("--dtypes", default="fp32,bf16")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work", default=None, help="folder for the model and the runs (default: a temporary one)")
    a = p.parse_args()

    from kolang.data import tasks
    from kolang.tiny import real_shape_model, save_with_byte_tokenizer, tiny_model

    work = Path(a.work or tempfile.mkdtemp(prefix="kolang-smoke-"))
    model_dir = work / "model"
    if not (model_dir / "config.json").is_file():
        t0 = time.perf_counter()
        model = tiny_model("qwen2", layers=8, hidden=64, width=256) if a.model == "tiny" else real_shape_model(a.model)
        save_with_byte_tokenizer(model, model_dir)
        print(f"built and saved the random {a.model} model in {time.perf_counter() - t0:.0f} s → {model_dir}")
    problems = tasks.generate(16, seed=0)
    tasks.export_jsonl(work / "sft.jsonl", tasks.sft_records(problems))
    tasks.export_jsonl(work / "rl.jsonl", tasks.rl_records(problems))
    env = {**os.environ, "KOLANG_THREADS": str(a.threads)}
    kolang = [sys.executable, "-m", "kolang"]
    rows = []
    for dtype in a.dtypes.split(","):
        d = work / dtype
        m, ns = str(model_dir), str(d / "neurons")
        steps = {
            "discover": kolang + ["discover", "--model", m, "--out", ns, "--max-texts", "32", "--dtype", dtype,
                                  "--device", "cpu"],
            "validate": kolang + ["validate", "--model", m, "--neurons", ns, "--out", str(d / "validate"),
                                  "--max-texts", "32", "--dtype", dtype, "--device", "cpu"],
            "tune": kolang + ["tune", "--model", m, "--data", str(work / "sft.jsonl"), "--out", str(d / "tune"),
                              "--neurons", ns, "--layers", "0:8", "--steps", "2", "--batch-size", "4",
                              "--dtype", dtype, "--device", "cpu"],
            "rl": kolang + ["rl", "--model", m, "--data", str(work / "rl.jsonl"), "--out", str(d / "rl"),
                            "--neurons", ns, "--trainable", "neurons", "--layers", "0:8", "--steps", "1",
                            "--prompts-per-step", "2", "--group-size", "2", "--max-completion-length", "16",
                            "--no-filter-groups", "--dtype", dtype, "--device", "cpu", "--threads", str(a.threads)],
            "eval": [sys.executable, "-c", EVAL, m, dtype],
        }
        for name, cmd in steps.items():
            d.mkdir(parents=True, exist_ok=True)
            r = run(f"{name} ({dtype})", cmd, env, d / f"{name}.log")
            rows.append((name, dtype, r))
            print(f"{name:<9}{dtype:<6}{r['s']:8.1f} s {r['peak_gib']:7.2f} GiB   {r['last'][:90]}", flush=True)
    print(f"\n{a.model} dimensions, random init, CPU, {a.threads} thread(s); every step succeeded")
    print(f"{'step':<10}" + "".join(f"{dt + ' s':>10}{dt + ' GiB':>11}" for dt in a.dtypes.split(",")))
    for name in ("discover", "validate", "tune", "rl", "eval"):
        cells = {dt: r for n, dt, r in rows if n == name}
        print(f"{name:<10}" + "".join(f"{cells[dt]['s']:>10.1f}{cells[dt]['peak_gib']:>11.2f}" for dt in a.dtypes.split(",")))
    print(json.dumps({f"{n}/{dt}": {"s": round(r["s"], 1), "peak_gib": round(r["peak_gib"], 2)} for n, dt, r in rows}))


if __name__ == "__main__":
    main()
