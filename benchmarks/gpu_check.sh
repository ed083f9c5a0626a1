#!/usr/bin/env bash
# The GPU path in one go, for a machine with CUDA: the `gpu`-marked tests, then the benchmarks with
# --device cuda at real dimensions (statistics on Qwen2.5-0.5B and -1.5B shapes in fp32 and bf16; tuning
# memory and GRPO vs TRL at Qwen2.5-0.5B's layer count, hidden size and MLP width, byte vocabulary),
# and one table at the end: each check's status, wall time and headline. Logs stay in $OUT (printed).
#
#   bash benchmarks/gpu_check.sh            # PYTHON=/path/to/python to choose the interpreter
#
# Without CUDA it says so and exits 0 (the gpu tests skip themselves in the normal suite).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=${OUT:-$(mktemp -d -t kolang-gpu-XXXX)}
if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check: no CUDA device here; nothing to check"
  exit 0
fi
"$PY" -c "import torch; p = torch.cuda.get_device_properties(0); print(f'gpu_check on {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}')"
ROWS=()
FAILED=0

check() {  # check NAME HEADLINE-REGEX COMMAND...: run, keep the log, remember status, seconds and headline
  local name=$1 pattern=$2; shift 2
  local start=$SECONDS status=ok
  echo "== $name: $*"
  if ! "$@" >"$OUT/$name.log" 2>&1; then status=FAILED; FAILED=1; fi
  local head
  head=$(grep -E "$pattern" "$OUT/$name.log" | tail -n 2 | tr '\n' ' ' | cut -c1-150)
  [ "$status" = FAILED ] && head=$(tail -n 1 "$OUT/$name.log" | cut -c1-150)
  ROWS+=("$(printf '%-22s %-7s %6ss  %s' "$name" "$status" "$((SECONDS - start))" "$head")")
}

STATS="benchmarks/stats_overhead.py --device cuda --texts 512 --max-length 512 --token-budget 16384 --repeats 3"
REAL="--layers 24 --hidden 896 --width 4864"
check tests "passed|failed|error" "$PY" -m pytest -q -p no:xdist -m gpu tests
check stats-0.5b-fp32 "/ bare" "$PY" $STATS --model qwen2.5-0.5b --dtype fp32
check stats-0.5b-bf16 "/ bare" "$PY" $STATS --model qwen2.5-0.5b --dtype bf16
check stats-1.5b-bf16 "/ bare" "$PY" $STATS --model qwen2.5-1.5b --dtype bf16
check tuning-memory "^neurons|^full" "$PY" benchmarks/tuning_memory.py --device cuda $REAL --steps 6
check grpo-vs-trl "^trl/kolang" "$PY" benchmarks/grpo_vs_trl.py --device cuda $REAL --steps 6
check grpo-vs-trl-ckpt "^trl/kolang" "$PY" benchmarks/grpo_vs_trl.py --device cuda $REAL --steps 6 --checkpointing

echo
printf '%-22s %-7s %7s  %s\n' check status time headline
printf '%s\n' "${ROWS[@]}"
echo "logs: $OUT"
exit $FAILED
