"""What kolang's rule rewards cost per completion, next to TRL's `accuracy_reward` on the same texts.

Rewards run on every completion of every GRPO step, so each must stay far below the cost of
generating the completion. The completions are realistic for kolang's tasks: the generator's
Korean and English solutions, self-correcting code-switched traces, and long LLM-style Korean
reasoning (markdown headings, a table, inline and display LaTeX, a fenced code block, `\\boxed{}`),
each with its Korean prompt. Each reward scores the whole list `--repeats` times; reported per
completion, in microseconds, are the median wall time and the least process CPU time (the
load-robust figure on a shared machine), and completions a second from the latter.

The language reward for targets that share a script (fr, uk) runs the language identifier on every
sentence; it is timed on reasoning-model completions (a `<think>` block of eight of kolang's
hand-written French or Ukrainian reasoning lines, tests/analysis/langid_lines.jsonl, then an answer)
with the identifier's sentence cache off, so every sentence costs what a new one does.

    python benchmarks/reward_cost.py [--n 200 --repeats 5]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import kolang.analysis.language as language
from kolang.data.codeswitch import CodeSwitchConfig, build_traces
from kolang.data.tasks import generate
from kolang.rl.rewards import AccuracyReward, FormatReward, LanguageConsistencyReward, ThinkFormatReward

LINES = Path(__file__).parents[1] / "tests" / "analysis" / "langid_lines.jsonl"

_LONG = """## 문제 이해
문제를 다시 읽어 보면, "{question}" 라는 문제입니다. 차근차근 풀어 보겠습니다. 주어진 수를 먼저 정리하면
다음 표와 같습니다.

| 단계 | 계산 | 결과 |
|---|---|---|
{rows}

## 풀이
각 단계의 결과를 이어서 계산하면 됩니다. 첫 단계의 결과는 ${r0}$ 이고, 전체 과정을 식으로 쓰면
$$
{chain}
$$
입니다. 검산을 위해 간단한 코드를 실행해 봅니다.

```python
x = {a}
{code}
print(x)  # {answer}
```

- 첫째, 처음 수에서 시작합니다.
- 둘째, 각 단계를 순서대로 적용합니다.
- 셋째, 마지막 결과가 코드의 출력과 같은지 확인합니다.

모든 계산이 일치하므로 최종 결과는 $\\boxed{{{answer}}}$ 입니다.
답은 {answer}입니다."""
_SYMBOL = {"add": "+", "sub": "-", "mul": "\\times"}
_PY = {"add": "+", "sub": "-", "mul": "*"}


def long_reasoning(p) -> str:
    """An LLM-style Korean solution of problem `p` with markdown, LaTeX and code."""
    rows = "\n".join(f"| {i + 1} | ${a} {_SYMBOL[op]} {b}$ | {r} |" for i, (op, a, b, r) in enumerate(p.ops))
    chain = ", \\quad ".join(f"{a} {_SYMBOL[op]} {b} = {r}" for op, a, b, r in p.ops)
    code = "\n".join(f"x = x {_PY[op]} {b}" for op, _, b, _ in p.ops)
    return _LONG.format(question=p.question["ko"], rows=rows, a=p.ops[0][1], r0=p.ops[0][3], chain=chain, code=code,
                        answer=p.answer)


def completions(n: int, seed: int) -> tuple[list[str], list[str], list[str]]:
    """(prompts, completions, gold answers): a quarter of each kind of completion."""
    problems = generate(n, seed=seed)
    traces = build_traces(problems, CodeSwitchConfig(seed=seed))
    rng = random.Random(seed)
    prompts, texts, golds = [], [], []
    for i, (p, t) in enumerate(zip(problems, traces)):
        kind = i % 4
        text = (p.solution("ko"), p.solution("en"), t.completion, long_reasoning(p))[kind]
        prompts.append(p.question["ko"])
        texts.append(text)
        golds.append(str(p.answer if rng.random() < 0.8 else p.answer + 1))
    return prompts, texts, golds


def thought_completions(lang: str, n: int, seed: int) -> list[str]:
    """Reasoning-model completions in `lang`: a thought of eight test lines, then an answer line."""
    lines = [r["text"] for r in map(json.loads, LINES.read_text(encoding="utf-8").splitlines()) if r.get("lang") == lang]
    rng = random.Random(seed)
    return ["<think>\n" + "\n".join(rng.sample(lines, 8)) + "\n</think>\n\n\\boxed{" + str(rng.randint(1, 99)) + "}"
            for _ in range(n)]


def time_per_completion(fn, prompts: list[str], texts: list[str], golds: list[str],
                        repeats: int) -> tuple[float, float]:
    """(median wall time, least process CPU time) of one call over all texts, per text, in µs."""
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn(prompts=prompts, completions=texts, answer=golds, solution=golds)
        wall.append((time.perf_counter() - w0) / len(texts) * 1e6)
        cpu.append((time.process_time() - c0) / len(texts) * 1e6)
    return statistics.median(wall), min(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="how many completions")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    prompts, texts, golds = completions(a.n, a.seed)
    rewards = {"accuracy": AccuracyReward(), "language": LanguageConsistencyReward("ko"), "format": FormatReward()}
    try:  # TRL is optional: its accuracy_reward is the reference when installed
        from trl.rewards import accuracy_reward

        def trl_accuracy(prompts, completions, solution, **kw):
            return accuracy_reward([[{"role": "assistant", "content": c}] for c in completions], solution)

        rewards["trl accuracy_reward"] = trl_accuracy
    except ImportError:
        pass
    for fn in rewards.values():  # warm up: imports, regex compilation, caches
        fn(prompts=prompts[:8], completions=texts[:8], answer=golds[:8], solution=golds[:8])
    print(f"{len(texts)} completions, mean {sum(map(len, texts)) / len(texts):.0f} characters")
    print(f"{'reward':<30}{'wall µs':>10}{'CPU µs':>10}{'compl./s':>10}  per completion (median wall, least CPU)")

    def show(name: str, wall: float, cpu: float) -> None:
        print(f"{name:<30}{wall:>10.1f}{cpu:>10.1f}{1e6 / max(cpu, 1e-9):>10.0f}")

    for name, fn in rewards.items():
        show(name, *time_per_completion(fn, prompts, texts, golds, a.repeats))
    cached, language.identify = language.identify, language.identify.__wrapped__  # every sentence is new
    try:
        for lang in ("fr", "uk"):
            thoughts = thought_completions(lang, a.n, a.seed)
            fn = LanguageConsistencyReward(lang)
            fn(prompts=prompts[:8], completions=thoughts[:8])  # loads the identifier's model
            show(f"language ({lang}, {fn.path()}) on thoughts", *time_per_completion(
                fn, prompts, thoughts, golds, a.repeats))
        show("think_format on thoughts", *time_per_completion(ThinkFormatReward(), prompts, thoughts, golds, a.repeats))
    finally:
        language.identify = cached


if __name__ == "__main__":
    main()
