"""Memory and speed of the sparse neuron adapter vs dense gradient masking, LoRA r=8 and full tuning.

A random-init Qwen2 model (default 8 layers, hidden 1024, MLP width 4096); 1% of the neurons of
the first quarter of the layers are selected; every method trains the same layers on the same
batches with AdamW. Each method runs in a fresh process so peak-memory figures do not mix.

    python benchmarks/tuning_memory.py [--layers 8 --hidden 1024 --width 4096 --steps 4]

Peak memory is the rise of the process's peak RSS (VmHWM, reset via /proc/self/clear_refs) over
the model's resident size, or `torch.cuda.max_memory_allocated` on a GPU. Step time is the best
of the timed steps, with the methods' steps interleaved in one process: on a shared machine that is
the figure least disturbed by other load.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time

import torch

METHODS = ("neurons", "gradmask", "lora", "full")


def _rss_kb(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def _setup(a: argparse.Namespace):
    """A fresh model, the tuned layers, the selected neurons, their count and the batches."""
    from kolang.tiny import tiny_model

    device = torch.device(a.device)
    model = tiny_model("qwen2", layers=a.layers, hidden=a.hidden, width=a.width).to(device)
    first = list(range(max(1, math.ceil(a.layers / 4))))
    k = max(1, round(a.width * a.fraction))
    g = torch.Generator().manual_seed(0)
    neurons = {layer: torch.randperm(a.width, generator=g)[:k].sort().values for layer in first}
    g = torch.Generator().manual_seed(1)
    batches = [torch.randint(0, 256, (a.batch, a.seq), generator=g).to(device) for _ in range(a.steps + 1)]
    return model, first, neurons, k * len(first), batches


def _step(tr, opt, ids: torch.Tensor) -> float:
    t0 = time.perf_counter()
    loss = tr.model(input_ids=ids, labels=ids).loss
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if ids.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def run_one(method: str, a: argparse.Namespace) -> dict:
    """Memory of `method` over `a.steps` steps, in its own process so the peak is its own."""
    from kolang.tuning.trainable import prepare

    torch.set_num_threads(a.threads)
    model, first, neurons, n_neurons, batches = _setup(a)
    cuda = batches[0].is_cuda
    if cuda:
        torch.cuda.synchronize()
        base_mem = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        open("/proc/self/clear_refs", "w").write("5")  # reset the peak RSS to the current RSS
        base_mem = _rss_kb("VmRSS:") * 1024
    tr = prepare(model, method, first, neurons, lora_r=8)
    opt = torch.optim.AdamW(tr.params, lr=1e-4, weight_decay=0.0)
    for ids in batches:
        _step(tr, opt, ids)
    peak = (torch.cuda.max_memory_allocated() if cuda else _rss_kb("VmHWM:") * 1024) - base_mem
    opt_bytes = sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values() if torch.is_tensor(t))
    return {"method": method, "trainable_params": sum(p.numel() for p in tr.params), "optimizer_bytes": opt_bytes,
            "peak_bytes": peak, "neurons": n_neurons}


def step_times(a: argparse.Namespace) -> dict[str, float]:
    """Best step time of each method, the methods' steps interleaved so that load from other
    processes on a shared machine falls on all of them alike."""
    from kolang.tuning.trainable import prepare

    torch.set_num_threads(a.threads)
    runs = {}
    for m in METHODS:
        model, first, neurons, _, batches = _setup(a)
        tr = prepare(model, m, first, neurons, lora_r=8)
        runs[m] = (tr, torch.optim.AdamW(tr.params, lr=1e-4, weight_decay=0.0), batches)
    best = {m: float("inf") for m in METHODS}
    for i in range(a.steps + 1):
        for m, (tr, opt, batches) in runs.items():
            t = _step(tr, opt, batches[i])
            if i:  # the first step creates the optimizer state and warms the allocator
                best[m] = min(best[m], t)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--width", type=int, default=4096)
    p.add_argument("--fraction", type=float, default=0.01)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    p.add_argument("--one", choices=METHODS, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        print(json.dumps(run_one(a.one, a)))
        return
    args = [x for x in sys.argv[1:] if x != "--json"]
    rows = []
    for m in METHODS:
        out = subprocess.run([sys.executable, __file__, *args, "--one", m], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    for r, (m, t) in zip(rows, step_times(a).items()):
        r["step_s"] = t
    ref = next(r for r in rows if r["method"] == "gradmask")
    print(f"model: qwen2 random-init, {a.layers} layers, hidden {a.hidden}, MLP width {a.width}; "
          f"{rows[0]['neurons']} neurons ({a.fraction:.1%}) in the first {max(1, math.ceil(a.layers / 4))} layers; "
          f"batch {a.batch}x{a.seq} tokens, AdamW, {a.device}, {a.threads} thread(s)")
    print(f"{'method':<10}{'trainable':>14}{'optim state':>14}{'peak mem':>12}{'step s':>9}"
          f"{'  optim/gradmask':>17}{'peak/gradmask':>15}{'step/gradmask':>15}")
    for r in rows:
        print(f"{r['method']:<10}{r['trainable_params']:>14,}{r['optimizer_bytes'] / 2**20:>12.2f}MB"
              f"{r['peak_bytes'] / 2**20:>10.1f}MB{r['step_s']:>9.3f}"
              f"{r['optimizer_bytes'] / ref['optimizer_bytes']:>17.4f}{r['peak_bytes'] / max(ref['peak_bytes'], 1):>15.3f}"
              f"{r['step_s'] / ref['step_s']:>15.3f}")
    if a.json:
        config = {k: v for k, v in vars(a).items() if k not in ("one", "json")}
        print(json.dumps({"config": {**config, "tuned_layers": max(1, math.ceil(a.layers / 4))}, "rows": rows}))


if __name__ == "__main__":
    main()
