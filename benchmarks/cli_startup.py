"""How fast the command line answers: help, usage errors and bad paths, each in a fresh interpreter.

Every case runs `python -m kolang ...` `--repeats` times in new processes (median and minimum wall
time), beside the time a bare `import torch` takes in the same process setup, the peer every
answer used to wait for. `--importtime` adds the ten slowest imports of `kolang --help`
(`python -X importtime`). Goal: every answer ≤ 1 s and well under one `import torch`.

    python benchmarks/cli_startup.py [--repeats 5] [--importtime]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time

CASES = {
    "kolang --help": ["--help"],
    "kolang tune --help": ["tune", "--help"],
    "kolang rl --help": ["rl", "--help"],
    "unknown command": ["no-such-command"],
    "bad option value": ["rl", "--temperature", "hot"],
    "missing --model folder": ["discover", "--model", "/nonexistent/model", "--out", "ns"],
    "bad --layers": ["discover", "--model", "/nonexistent", "--out", "ns", "--layers", "1:2:3:4"],
}


def wall(argv: list[str], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--importtime", action="store_true", help="also list the slowest imports of `kolang --help`")
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = p.parse_args()
    torch_t = wall([sys.executable, "-c", "import torch"], args.repeats)
    peer = statistics.median(torch_t)
    print(f"{'case':<26} {'median s':>9} {'min s':>7} {'vs import torch':>16}")
    print(f"{'import torch (peer)':<26} {peer:>9.3f} {min(torch_t):>7.3f} {1.0:>15.2f}x")
    cases = {}
    for name, argv in CASES.items():
        t = wall([sys.executable, "-m", "kolang", *argv], args.repeats)
        cases[name] = {"median_s": statistics.median(t), "min_s": min(t)}
        print(f"{name:<26} {statistics.median(t):>9.3f} {min(t):>7.3f} {statistics.median(t) / peer:>15.2f}x")
    if args.json:
        print(json.dumps({"repeats": args.repeats, "import_torch": {"median_s": peer, "min_s": min(torch_t)},
                          "cases": cases}))
    if args.importtime:
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "kolang", "--help"], capture_output=True,
                              text=True)
        rows = []
        for line in proc.stderr.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
            if m and not m.group(3):  # top-level imports only
                rows.append((int(m.group(2)), m.group(4)))
        print("\nslowest top-level imports of `kolang --help` (cumulative ms):")
        for us, name in sorted(rows, reverse=True)[:10]:
            print(f"  {us / 1000:8.1f}  {name}")


if __name__ == "__main__":
    main()
