"""Cost of kolang's streaming statistics vs a bare forward, TransformerLens caching and nnsight saving.

Four ways to read the same corpus through the same random-init model (default Qwen2, 8 layers,
hidden 384, MLP width 1152), all batched by `kolang.batching.encoded_batches` with the same budget:

  bare             the forward alone, no hooks;
  kolang           `collect_stats`: hooks reduce each MLP forward to per-language sums, never caching;
  transformerlens  `TransformerBridge.run_with_cache` filtered to `blocks.{l}.mlp.hook_post` (the
                   neuron value) and `blocks.{l}.mlp.hook_pre` (the gate pre-activation, whose sign
                   is act(gate)'s for SiLU/GELU), reduced after the forward;
  nnsight          `LanguageModel.trace` saving every layer's act(gate) output and down-projection
                   input, reduced after the forward.

The cached variants are reduced by kolang's own `StatsAccumulator`, so all three do the same
arithmetic and differ only in where the values are read (inside the forward, or from a cache); the
script asserts their statistics equal kolang's before printing anything.

    python benchmarks/stats_overhead.py [--layers 8 --hidden 384 --width 1152 --texts 192 --repeats 3]

Timing: each variant lives in its own spawned process (model built there from the same seed); the
parent asks them for one pass over the corpus in turn, round after round (the order reversed every
other round), so load from other programs on a shared machine falls on all variants alike. A pass
includes tokenisation; the figure reported is the median pass over `--repeats` rounds. Also shown:
the minimum (on a loaded machine the figure least disturbed), the process CPU time of a pass (blind
to waiting for the CPU, though threads spinning at OpenMP barriers inflate it), and for kolang vs
bare the median of their per-round ratio (they run back to back). tokens/s counts real tokens.

Peak memory: on CPU, the worker's peak resident set (VmHWM, reset through /proc/self/clear_refs
once the model is built) at the end, minus its resident set at that reset: the most memory the
variant held at once beyond the model (activations, caches, logits, allocator slack) over the
warm-up and every pass. One process a variant, so one variant's caches never inflate another's
figure. On CUDA it is `torch.cuda.max_memory_allocated` minus the memory allocated at that point.
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

VARIANTS = ("bare", "kolang", "transformerlens", "nnsight")


def corpus(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """`n` texts, two thirds arithmetic problems with solutions (~100-290 byte tokens), one third short sentences."""
    from kolang.data import tasks
    from kolang.data.sentences import parallel_sentences

    n_task = (2 * n) // 3
    recs = tasks.discovery_records(tasks.generate((n_task + 1) // 2, seed))[:n_task]
    pairs = parallel_sentences((n - n_task + 1) // 2, seed)
    recs += [{"text": p[lang], "lang": lang} for p in pairs for lang in ("ko", "en")][: n - n_task]
    return [r["text"] for r in recs], [r["lang"] for r in recs]


def _rss_kb(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
    return 0


class Variant:
    """One way of reading the corpus, set up once in its worker process; `run` makes one full pass."""

    def __init__(self, name: str, a: dict):
        from kolang.arch import resolve
        from kolang.tiny import byte_tokenizer, tiny_model

        self.name, self.a = name, a
        self.device = torch.device(a["device"])
        self.model = tiny_model(a["family"], layers=a["layers"], hidden=a["hidden"], width=a["width"]).to(self.device)
        self.tok = byte_tokenizer()
        self.mm = resolve(self.model)
        self.texts, self.langs = corpus(a["texts"])
        self.languages = sorted(set(self.langs))
        self.batching = dict(max_length=a["max_length"], token_budget=a["token_budget"], max_batch=a["max_batch"])
        self.stats = None
        enc = self.tok(self.texts, truncation=True, max_length=a["max_length"])["input_ids"]
        self.n_tokens = sum(len(x) for x in enc)  # real tokens a pass reads
        if name == "transformerlens":
            from transformer_lens.model_bridge import TransformerBridge

            # The bridge rewires the model it is given and sets the tokenizer's padding side: give it copies.
            self.bridge = TransformerBridge.boot_transformers(a["family"], hf_model=copy.deepcopy(self.model),
                                                              tokenizer=copy.deepcopy(self.tok))
            self.bridge.to(self.device)
            sites = ("hook_post", "hook_pre") if self.mm.spec.gated else ("hook_post",)
            self.names = {f"blocks.{layer}.mlp.{site}" for layer in range(self.mm.num_layers) for site in sites}
        elif name == "nnsight":
            from nnsight import LanguageModel

            self.lm = LanguageModel(self.model, tokenizer=copy.deepcopy(self.tok))
        # Peak memory is counted from here: the model (and bridge/wrapper) is built, nothing has run.
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.base_mem = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
        else:
            open("/proc/self/clear_refs", "w").write("5")  # reset the peak RSS to the current RSS
            self.base_mem = _rss_kb("VmRSS:") * 1024
        self.run(self.texts[:8], self.langs[:8])  # warm-up: lazy initialisation, allocator, tracing caches

    def _batches(self, texts):
        from kolang.batching import encoded_batches

        return encoded_batches(self.tok, texts, **self.batching)

    def _node(self, path: str):
        node = self.lm
        for part in path.split("."):
            node = node[int(part)] if part.isdigit() else getattr(node, part)
        return node

    def run(self, texts: list[str], langs: list[str]) -> None:
        """One pass over `texts`, keeping the statistics in `self.stats` (none for the bare forward)."""
        from kolang.neurons.stats import StatsAccumulator, collect_stats

        dev = self.device
        if self.name == "kolang":
            self.stats = collect_stats(self.model, self.tok, texts, langs, languages=self.languages, **self.batching)
            return
        lang_ix = {lang: i for i, lang in enumerate(self.languages)}
        acc = StatsAccumulator(self.mm, self.languages, dev) if self.name != "bare" else None
        with torch.inference_mode():
            for b in self._batches(texts):
                ids, attn = b.input_ids.to(dev), b.attention_mask.to(dev)
                if self.name == "bare":
                    self.model(input_ids=ids, attention_mask=attn, use_cache=False)
                    continue
                acc.begin_batch(b.counted.to(dev), torch.tensor([lang_ix[langs[j]] for j in b.index], device=dev))
                if self.name == "transformerlens":
                    _, cache = self.bridge.run_with_cache(ids, attention_mask=attn, names_filter=lambda n: n in self.names)
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
            self.stats = acc.result()

    def timed_pass(self) -> dict:
        """Run the whole corpus once: wall and process CPU seconds."""
        t0, c0 = time.perf_counter(), time.process_time()
        self.run(self.texts, self.langs)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return {"s": time.perf_counter() - t0, "cpu": time.process_time() - c0, "tokens": self.n_tokens}

    def peak_bytes(self) -> int:
        """Peak memory since the model was built, over what it held then."""
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated() - self.base_mem
        return _rss_kb("VmHWM:") * 1024 - self.base_mem


def _worker(name: str, a: dict, conn) -> None:
    """Serve passes of one variant until told to stop; then send back its statistics."""
    warnings.filterwarnings("ignore")
    torch.set_num_threads(a["threads"])
    with contextlib.redirect_stdout(io.StringIO()):  # the bridge prints while booting
        v = Variant(name, a)
    conn.send("ready")
    while (msg := conn.recv()) == "run":
        conn.send(v.timed_pass())
    st = v.stats
    # As numpy arrays: torch tensors would travel as shared-memory handles that die with this process.
    conn.send((v.peak_bytes(), None if st is None else
               {k: getattr(st, k).cpu().numpy() for k in ("tokens", "sum", "sumsq", "active")}))


def check_equal(ref: dict, other: dict, name: str) -> None:
    """The cached variants must reduce to kolang's statistics (same tokens, sums, activity counts)."""
    assert torch.equal(ref["tokens"], other["tokens"]), f"{name}: token counts differ"
    for k in ("sum", "sumsq"):
        torch.testing.assert_close(other[k], ref[k], rtol=1e-4, atol=1e-3, msg=lambda m: f"{name} {k}: {m}")
    diff = (other["active"] - ref["active"]).abs().max().item()
    assert diff == 0, f"{name}: activity counts differ by up to {diff}"


def report(a: argparse.Namespace, runs: dict[str, list[dict]], peak_bytes: dict[str, int], checked: list[str]) -> dict:
    """Print the table and the ratios; returns the figures (also printed as one JSON line with --json)."""
    names = list(runs)
    tokens = runs[names[0]][0]["tokens"]
    med = {n: statistics.median(x["s"] for x in runs[n]) for n in names}
    best = {n: min(x["s"] for x in runs[n]) for n in names}
    cpu = {n: statistics.median(x["cpu"] for x in runs[n]) for n in names}
    peak = {n: peak_bytes[n] / 2**20 for n in names}
    print(f"model: {a.family} random-init, {a.layers} layers, hidden {a.hidden}, MLP width {a.width}; corpus "
          f"{a.texts} texts, {tokens:,} tokens (max {a.max_length}), batches of <= {a.token_budget} padded tokens; "
          f"{a.device}, {a.threads} thread(s), median of {a.repeats} passes")
    if checked:
        print(f"statistics of {' and '.join(checked)} equal kolang's: checked")
    rel = lambda d, n, ref: f"{d[n] / d[ref]:.3f}" if ref in d else "-"  # noqa: E731
    print(f"{'variant':<16}{'tok/s':>8}{'median s':>10}{'min s':>8}{'cpu s':>8}{'peak MB':>9}"
          f"{'time/bare':>11}{'time/kolang':>13}{'peak/kolang':>13}")
    for n in names:
        print(f"{n:<16}{tokens / med[n]:>8.0f}{med[n]:>10.2f}{best[n]:>8.2f}{cpu[n]:>8.2f}{peak[n]:>9.1f}"
              f"{rel(med, n, 'bare'):>11}{rel(med, n, 'kolang'):>13}{rel(peak, n, 'kolang'):>13}")
    out = {"tokens": tokens, "median_s": med, "min_s": best, "cpu_s": cpu, "peak_mb": peak}
    if "kolang" in med and "bare" in med:
        out["kolang_over_bare"] = ratio = med["kolang"] / med["bare"]
        # Each round runs kolang and bare back to back: the median of their per-round ratio is the
        # figure least moved by load that drifts over minutes.
        paired = statistics.median(k["s"] / b["s"] for k, b in zip(runs["kolang"], runs["bare"]))
        out["kolang_over_bare_paired"] = paired
        print(f"kolang / bare: time {ratio:.3f} (per-round pairs {paired:.3f}, min-based "
              f"{best['kolang'] / best['bare']:.3f}, cpu-time-based {cpu['kolang'] / cpu['bare']:.3f}); "
              f"goal <= 1.10: {'met' if ratio <= 1.10 else 'missed'}")
    for n in ("transformerlens", "nnsight"):
        if n in med and "kolang" in med:
            out[f"{n}_over_kolang"] = {"time": med[n] / med["kolang"], "peak": peak[n] / max(peak["kolang"], 1e-9)}
            print(f"{n} / kolang: time {med[n] / med['kolang']:.2f}x, peak memory {peak[n] / max(peak['kolang'], 1e-9):.1f}x")
    if a.json:
        print(json.dumps(out))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--family", default="qwen2", help="tiny model family (kolang.tiny.TINY_FAMILIES)")
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--hidden", type=int, default=384)
    p.add_argument("--width", type=int, default=1152, help="MLP width (neurons a layer)")
    p.add_argument("--texts", type=int, default=192, help="corpus size: 2/3 word problems, 1/3 sentences, ko+en")
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--token-budget", type=int, default=4096, help="padded tokens a batch")
    p.add_argument("--max-batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3, help="timed passes per variant (median reported)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of " + ",".join(VARIANTS))
    a = p.parse_args()
    names = [v for v in VARIANTS if v in a.variants.split(",")]
    ctx = mp.get_context("spawn")
    workers = {}
    for name in names:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(name, vars(a), child), daemon=True)
        proc.start()
        workers[name] = (proc, parent)
    for name, (_, conn) in workers.items():
        assert conn.recv() == "ready", name
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(a.repeats):
        for name in (names if r % 2 == 0 else names[::-1]):  # bare and kolang stay back to back
            conn = workers[name][1]
            conn.send("run")
            runs[name].append(conn.recv())
    stats, peak = {}, {}
    for name, (proc, conn) in workers.items():
        conn.send("stop")
        peak[name], got = conn.recv()
        proc.join()
        if got is not None:
            stats[name] = {k: torch.from_numpy(v) for k, v in got.items()}
    if "kolang" in stats:
        for name in ("transformerlens", "nnsight"):
            if name in stats:
                check_equal(stats["kolang"], stats[name], name)

    report(a, runs, peak, checked=[n for n in ("transformerlens", "nnsight") if n in stats and "kolang" in stats])


if __name__ == "__main__":
    main()
