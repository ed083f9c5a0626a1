"""Cost of kolang's streaming statistics vs a bare forward, TransformerLens caching and nnsight saving.

Ways to read the same corpus through the same random-init model, all batched by
`kolang.batching.encoded_batches` with the same budget:

  bare             the whole forward alone (LM head included), no hooks: the peer;
  full_forward     what `collect_stats` did before it stopped early: the same hooks and
                   `StatsAccumulator`, the whole forward run; its statistics are "today's";
  kolang           `collect_stats`: hooks reduce each MLP forward to per-language sums and the
                   forward stops after the last layer, so the LM head never runs;
  kolang_layers    `collect_stats(layers=--read-layers)` (default the first third, e.g. 0:8 of 24);
  nnsight_stats    `collect_stats(backend="nnsight")`: the same reduction inside an nnsight trace,
                   only the sums saved, the trace stopped after the last layer;
  transformerlens  `TransformerBridge.run_with_cache` filtered to `blocks.{l}.mlp.hook_post` (the
                   neuron value) and `hook_pre` (the gate pre-activation, whose sign is act(gate)'s
                   for SiLU/GELU), reduced after the forward;
  nnsight          `LanguageModel.trace` saving every layer's act(gate) output and down-projection
                   input, reduced after the forward.

The cached variants are reduced by kolang's own `StatsAccumulator`. Before printing anything the
script asserts: kolang's statistics equal full_forward's bit for bit (CPU, float32) and
kolang_layers' equal them on the layers read; nnsight_stats, transformerlens and nnsight equal
kolang's to float summation order.

    python benchmarks/stats_overhead.py [--layers 8 --hidden 384 --width 1152 --texts 192 --repeats 3]
    python benchmarks/stats_overhead.py --model qwen2.5-0.5b --texts 32 --repeats 2   # true dimensions

`--model qwen2.5-0.5b` / `qwen2.5-1.5b` builds a random-init Qwen2 with that model's true
dimensions and vocabulary (151,936; `kolang.tiny.REAL_SHAPES`), read with the byte tokenizer (ids
below 260; the logits still span the whole vocabulary). Such a model is built once and every
variant runs in that one process (`--one-process`, on by default there), since one copy a variant
would not fit; TransformerLens, which copies the model, is left out unless asked for.

Timing: each variant's passes are interleaved with the others', round after round (the order
reversed every other round), so load from other programs on a shared machine falls on all
variants alike. A pass includes tokenisation; the figure reported is the median pass over
`--repeats` rounds. Also shown: the minimum, the process CPU time of a pass, and for each variant vs
bare the median of their per-round ratio (they run back to back). tokens/s counts real tokens.

Peak memory (`benchmarks/_peak.py`): on CPU, the peak resident set during a pass (VmHWM, reset
through /proc/self/clear_refs just before it, after `malloc_trim`) minus the resident set at that
reset, the largest over the timed passes: the most memory the pass held at once beyond the model
(activations, logits, caches, allocator slack). Without `--one-process` each variant lives in its own
spawned process. On CUDA it is `torch.cuda.max_memory_allocated` over the memory allocated at the start.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import multiprocessing as mp
import statistics
import time
import warnings

import torch
from _peak import Peak

VARIANTS = ("bare", "full_forward", "kolang", "kolang_layers", "nnsight_stats", "transformerlens", "nnsight")
REAL_DEFAULT = ("bare", "full_forward", "kolang", "kolang_layers", "nnsight_stats")
CACHED = ("transformerlens", "nnsight")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def corpus(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """`n` texts, two thirds arithmetic problems with solutions (~100-290 byte tokens), one third short sentences."""
    from kolang.data import tasks
    from kolang.data.sentences import parallel_sentences

    n_task = (2 * n) // 3
    recs = tasks.discovery_records(tasks.generate((n_task + 1) // 2, seed))[:n_task]
    pairs = parallel_sentences((n - n_task + 1) // 2, seed)
    recs += [{"text": p[lang], "lang": lang} for p in pairs for lang in ("ko", "en")][: n - n_task]
    return [r["text"] for r in recs], [r["lang"] for r in recs]


def build_model(a: dict):
    from kolang.tiny import real_shape_model, tiny_model

    if a["model"] == "tiny":
        model = tiny_model(a["family"], layers=a["layers"], hidden=a["hidden"], width=a["width"])
    else:
        model = real_shape_model(a["model"])
    return model.to(device=a["device"], dtype=DTYPES[a["dtype"]])


class Worker:
    """The model and corpus, set up once in a worker process, and the variants it serves; `run` makes one pass."""

    def __init__(self, names: list[str], a: dict):
        from kolang.arch import resolve
        from kolang.layers import parse_layers
        from kolang.tiny import byte_tokenizer

        self.a, self.names = a, names
        self.device = torch.device(a["device"])
        self.model = build_model(a)
        self.tok = byte_tokenizer()
        self.mm = resolve(self.model)
        self.read_layers = parse_layers(a["read_layers"] or f"0:{max(1, self.mm.num_layers // 3)}", self.mm.num_layers)
        self.texts, self.langs = corpus(a["texts"])
        self.languages = sorted(set(self.langs))
        self.batching = dict(max_length=a["max_length"], token_budget=a["token_budget"], max_batch=a["max_batch"])
        self.stats: dict[str, object] = {}
        self.peaks: dict[str, float] = {}
        enc = self.tok(self.texts, truncation=True, max_length=a["max_length"])["input_ids"]
        self.n_tokens = sum(len(x) for x in enc)  # real tokens a pass reads
        if "transformerlens" in names:
            from transformer_lens.model_bridge import TransformerBridge

            # The bridge rewires the model it is given and sets the tokenizer's padding side: give it copies.
            self.bridge = TransformerBridge.boot_transformers(self.model.config.model_type,
                                                              hf_model=copy.deepcopy(self.model),
                                                              tokenizer=copy.deepcopy(self.tok))
            self.bridge.to(self.device)
            sites = ("hook_post", "hook_pre") if self.mm.spec.gated else ("hook_post",)
            self.tl_names = {f"blocks.{layer}.mlp.{site}" for layer in range(self.mm.num_layers) for site in sites}
        if "nnsight" in names or "nnsight_stats" in names:
            from kolang.neurons.nnsight_backend import wrap

            self.lm = wrap(self.model, copy.deepcopy(self.tok))  # nnsight sets left padding on its tokenizer
        for name in names:  # warm-up: lazy initialisation, allocator, tracing caches
            self.run(name, self.texts[:8], self.langs[:8])

    def _node(self, path: str):
        node = self.lm
        for part in path.split("."):
            node = node[int(part)] if part.isdigit() else getattr(node, part)
        return node

    def run(self, name: str, texts: list[str], langs: list[str]) -> None:
        """One pass of variant `name` over `texts`, keeping its statistics (none for the bare forward)."""
        from kolang.batching import encoded_batches
        from kolang.neurons.hooks import capture_mlp
        from kolang.neurons.stats import StatsAccumulator, collect_stats

        dev = self.device
        if name in ("kolang", "kolang_layers", "nnsight_stats"):
            kw = dict(languages=self.languages, **self.batching)
            if name == "kolang_layers":
                kw["layers"] = self.read_layers
            if name == "nnsight_stats":
                kw["backend"] = "nnsight"
            self.stats[name] = collect_stats(self.lm if name == "nnsight_stats" else self.model, self.tok, texts, langs,
                                             **kw)
            return
        lang_ix = {lang: i for i, lang in enumerate(self.languages)}
        acc = StatsAccumulator(self.mm, self.languages, dev) if name != "bare" else None
        with torch.inference_mode(), (capture_mlp(self.mm, acc) if name == "full_forward" else contextlib.nullcontext()):
            for b in encoded_batches(self.tok, texts, **self.batching):
                ids, attn = b.input_ids.to(dev), b.attention_mask.to(dev)
                if name == "bare":
                    self.model(input_ids=ids, attention_mask=attn, use_cache=False)
                    continue
                acc.begin_batch(b.counted.to(dev), torch.tensor([lang_ix[langs[j]] for j in b.index], device=dev))
                if name == "full_forward":
                    self.model(input_ids=ids, attention_mask=attn, use_cache=False)
                elif name == "transformerlens":
                    _, cache = self.bridge.run_with_cache(ids, attention_mask=attn,
                                                          names_filter=lambda n: n in self.tl_names)
                    for layer in range(self.mm.num_layers):
                        gate = cache[f"blocks.{layer}.mlp.hook_pre"] if self.mm.spec.gated else None
                        acc(layer, cache[f"blocks.{layer}.mlp.hook_post"], gate)
                else:
                    saved = {}
                    with self.lm.trace({"input_ids": ids, "attention_mask": attn}):
                        for layer in range(self.mm.num_layers):
                            # nnsight requires sites in execution order: act(gate) runs before down.
                            act = self._node(self.mm.path(layer, "act")).output.save() if self.mm.spec.gated else None
                            saved[layer] = (self._node(self.mm.path(layer, "down")).input.save(), act)
                    for layer, (value, act) in saved.items():
                        acc(layer, value, act)
                acc.end_batch()
        if acc is not None:
            self.stats[name] = acc.result()

    def timed_pass(self, name: str) -> dict:
        """Run the whole corpus once through `name`: wall and process CPU seconds, peak memory."""
        peak = Peak(self.device).start()
        t0, c0 = time.perf_counter(), time.process_time()
        self.run(name, self.texts, self.langs)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        out = {"s": time.perf_counter() - t0, "cpu": time.process_time() - c0, "tokens": self.n_tokens}
        self.peaks[name] = max(self.peaks.get(name, 0.0), peak.mib())
        return out


def _worker(names: list[str], a: dict, conn) -> None:
    """Serve passes until told to stop; then send back each variant's peak memory and statistics."""
    warnings.filterwarnings("ignore")
    torch.set_num_threads(a["threads"])
    with contextlib.redirect_stdout(io.StringIO()):  # the bridge prints while booting
        w = Worker(names, a)
    conn.send({"ready": True, "read_layers": w.read_layers, "layers": w.mm.num_layers, "width": w.mm.width})
    while (msg := conn.recv()) != "stop":
        conn.send(w.timed_pass(msg))
    out = {}
    for name in names:
        st = w.stats.get(name)
        # As numpy arrays: torch tensors would travel as shared-memory handles that die with this process.
        out[name] = (w.peaks.get(name, 0.0), None if st is None else
                     {k: getattr(st, k).cpu().numpy() for k in ("tokens", "sum", "sumsq", "active")})
    conn.send(out)


def check_equal(ref: dict, other: dict, name: str, layers: list[int] | None = None, exact: bool = False) -> None:
    """`other`'s statistics equal `ref`'s (same tokens, sums, activity counts), on `layers` (default all)."""
    assert torch.equal(ref["tokens"], other["tokens"]), f"{name}: token counts differ"
    rows = slice(None) if layers is None else layers
    for k in ("sum", "sumsq", "active"):
        r, o = ref[k][rows], other[k][rows]
        if exact or k == "active":
            assert torch.equal(r, o), f"{name} {k}: not bit-identical (max difference {(r - o).abs().max().item()})"
        else:
            torch.testing.assert_close(o, r, rtol=1e-4, atol=1e-3, msg=lambda m: f"{name} {k}: {m}")


def report(a: argparse.Namespace, shape: dict, runs: dict[str, list[dict]], peak: dict[str, float],
           checked: list[str]) -> dict:
    """Print the table and the ratios; returns the figures (also printed as one JSON line with --json)."""
    names = list(runs)
    tokens = runs[names[0]][0]["tokens"]
    med = {n: statistics.median(x["s"] for x in runs[n]) for n in names}
    best = {n: min(x["s"] for x in runs[n]) for n in names}
    cpu = {n: statistics.median(x["cpu"] for x in runs[n]) for n in names}
    desc = (f"{a.family} random-init, {shape['layers']} layers, hidden {a.hidden}, MLP width {shape['width']}"
            if a.model == "tiny" else f"{a.model} dimensions, random init, {shape['layers']} layers, "
                                      f"MLP width {shape['width']}, vocabulary 151,936")
    print(f"model: {desc}, {a.dtype}; corpus {a.texts} texts, {tokens:,} tokens (max {a.max_length}), batches of "
          f"<= {a.token_budget} padded tokens; kolang_layers reads {shape['read_spec']}; {a.device}, {a.threads} "
          f"thread(s), {'one process' if a.one_process else 'one process a variant'}, median of {a.repeats} passes")
    if checked:
        print("statistics checked: " + "; ".join(checked))
    rel = lambda d, n, ref: f"{d[n] / d[ref]:.3f}" if ref in d and d[ref] else "-"  # noqa: E731
    paired = {n: statistics.median(x["s"] / b["s"] for x, b in zip(runs[n], runs["bare"])) if "bare" in runs else None
              for n in names}
    print(f"{'variant':<16}{'tok/s':>8}{'median s':>10}{'min s':>8}{'cpu s':>8}{'peak MiB':>10}"
          f"{'time/bare':>11}{'paired':>8}{'peak/bare':>11}")
    for n in names:
        pr = f"{paired[n]:.3f}" if paired[n] is not None else "-"
        print(f"{n:<16}{tokens / med[n]:>8.0f}{med[n]:>10.2f}{best[n]:>8.2f}{cpu[n]:>8.2f}{peak[n]:>10.1f}"
              f"{rel(med, n, 'bare'):>11}{pr:>8}{rel(peak, n, 'bare'):>11}")
    out = {"tokens": tokens, "median_s": med, "min_s": best, "cpu_s": cpu, "peak_mib": peak, "paired_over_bare": paired}
    goals = {"kolang": (0.85, 0.5), "kolang_layers": (0.4, None)}
    if "bare" in med:
        for n, (t_goal, m_goal) in goals.items():
            if n not in med:
                continue
            t = med[n] / med["bare"]
            out[f"{n}_time_over_bare"] = t
            line = f"{n} / bare: time {t:.3f} (paired {paired[n]:.3f}; goal <= {t_goal}: {'met' if t <= t_goal else 'missed'})"
            if m_goal is not None:
                m = out[f"{n}_peak_over_bare"] = peak[n] / max(peak["bare"], 1e-9)
                line += f", peak memory {m:.3f} (goal <= {m_goal}: {'met' if m <= m_goal else 'missed'})"
            print(line)
    for n in ("nnsight_stats", *CACHED):
        if n in med and "kolang" in med:
            out[f"{n}_over_kolang"] = {"time": med[n] / med["kolang"], "peak": peak[n] / max(peak["kolang"], 1e-9)}
            print(f"{n} / kolang: time {med[n] / med['kolang']:.2f}x, peak memory {peak[n] / max(peak['kolang'], 1e-9):.1f}x")
    if a.json:
        print(json.dumps(out))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny", choices=("tiny", "qwen2.5-0.5b", "qwen2.5-1.5b"),
                   help="tiny (shaped by --family/--layers/--hidden/--width) or a real model's true dimensions")
    p.add_argument("--family", default="qwen2", help="tiny model family (kolang.tiny.TINY_FAMILIES)")
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--hidden", type=int, default=384)
    p.add_argument("--width", type=int, default=1152, help="MLP width (neurons a layer)")
    p.add_argument("--read-layers", default=None, help="layers kolang_layers reads (default: the first third)")
    p.add_argument("--dtype", default="fp32", choices=sorted(DTYPES))
    p.add_argument("--texts", type=int, default=192, help="corpus size: 2/3 word problems, 1/3 sentences, ko+en")
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--token-budget", type=int, default=4096, help="padded tokens a batch")
    p.add_argument("--max-batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3, help="timed passes per variant (median reported)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--one-process", action=argparse.BooleanOptionalAction, default=None,
                   help="all variants share one model in one process (default: on for real dimensions)")
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    p.add_argument("--variants", default=None, help="comma-separated subset of " + ",".join(VARIANTS))
    a = p.parse_args()
    if a.one_process is None:
        a.one_process = a.model != "tiny"
    wanted = a.variants.split(",") if a.variants else (VARIANTS if a.model == "tiny" else REAL_DEFAULT)
    names = [v for v in VARIANTS if v in wanted]
    ctx = mp.get_context("spawn")
    groups = [names] if a.one_process else [[n] for n in names]
    workers = {}
    for group in groups:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(group, vars(a), child), daemon=True)
        proc.start()
        workers[tuple(group)] = (proc, parent)
    shape = {}
    for group, (_, conn) in workers.items():
        hello = conn.recv()
        assert hello.get("ready"), group
        rl = hello["read_layers"]
        shape = {"layers": hello["layers"], "width": hello["width"], "read_layers": rl, "read_spec": f"{rl[0]}:{rl[-1] + 1}"}
    conn_of = {n: conn for group, (_, conn) in workers.items() for n in group}
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(a.repeats):
        for name in (names if r % 2 == 0 else names[::-1]):  # bare and each variant stay close in time
            conn_of[name].send(name)
            runs[name].append(conn_of[name].recv())
    stats, peak = {}, {}
    for _group, (proc, conn) in workers.items():
        conn.send("stop")
        for name, (pk, got) in conn.recv().items():
            peak[name] = pk
            if got is not None:
                stats[name] = {k: torch.from_numpy(v) for k, v in got.items()}
        proc.join()
    checked = []
    if "kolang" in stats:
        ref = stats["kolang"]
        exact = a.device == "cpu" and a.dtype == "fp32"
        if "full_forward" in stats:
            check_equal(stats["full_forward"], ref, "kolang vs full_forward", exact=exact)
            checked.append("kolang = full_forward (today's)" + (" bit for bit" if exact else ""))
        if "kolang_layers" in stats:
            check_equal(ref, stats["kolang_layers"], "kolang_layers", layers=shape["read_layers"], exact=exact)
            checked.append(f"kolang_layers = kolang on layers {shape['read_spec']}" + (" bit for bit" if exact else ""))
        for name in ("nnsight_stats", *CACHED):
            if name in stats:
                check_equal(ref, stats[name], name)
                checked.append(f"{name} = kolang (to float rounding)")
    report(a, shape, runs, peak, checked)


if __name__ == "__main__":
    main()
