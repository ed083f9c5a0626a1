"""`kolang rl` end to end on a tiny model directory: a run, a resume, bad input, and a killed run resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

OPTS = ["--steps", "3", "--group-size", "2", "--prompts-per-step", "2", "--max-completion-length", "6",
        "--no-filter-groups", "--save-every", "1", "--threads", "1", "--lr", "0.01", "--format-weight", "1"]


@pytest.fixture()
def data(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"{a} 더하기 1은?", "answer": str(a + 1), "lang": "ko"},
                                       ensure_ascii=False) + "\n" for a in range(5)), encoding="utf-8")
    return path


def test_cli_runs_and_resumes(tiny_dir, data, tmp_path, cli):
    out = tmp_path / "run"
    code, err = cli(*["rl", "--model", str(tiny_dir), "--data", str(data), "--out", str(out), *OPTS])
    assert code == 0, err
    assert "3 steps" in err and (out / "model" / "config.json").is_file()
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [0, 1, 2]
    cfg = json.loads((out / "config.json").read_text())["config"]
    assert cfg["group_size"] == 2 and cfg["format_weight"] == 1.0 and cfg["model"] == str(tiny_dir)
    code, err = cli(*["rl", "--model", str(tiny_dir), "--data", str(data), "--out", str(out), *OPTS])
    assert code == 2 and "--resume" in err


@pytest.mark.parametrize("records, opts, message", [
    ([{"prompt": "x"}], [], "answer"),
    ([], [], "empty"),
    ([{"prompt": "x", "answer": "1"}], ["--group-size", "1"], "--group-size"),
    ([{"prompt": "x", "answer": "1"}], ["--trainable", "neurons"], "--neurons"),
    ([{"prompt": "x", "answer": "1"}], ["--filter-low", "0.9", "--filter-high", "0.5"], "filter"),
])
def test_cli_bad_input_is_one_line(tiny_dir, tmp_path, cli, records, opts, message):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    code, err = cli(*["rl", "--model", str(tiny_dir), "--data", str(path), "--out", str(tmp_path / "o"), *opts])
    assert code == 2 and message in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("kolang: error:")


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_metrics(tiny_dir, data, tmp_path, cli):
    steps = ["--steps", "20"]  # enough steps that the poll below catches the run mid-way
    full = tmp_path / "full"
    assert cli(*["rl", "--model", str(tiny_dir), "--data", str(data), "--out", str(full), *OPTS, *steps]).code == 0
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "kolang", "rl", "--model", str(tiny_dir), "--data", str(data), "--out", str(killed),
           *OPTS, *steps]
    env = {**os.environ, "KOLANG_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not any((killed / "checkpoints").glob("step-*")):
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    done = sorted(p.name for p in (killed / "checkpoints").iterdir() if not p.name.startswith("."))
    assert done, "the run never wrote a checkpoint"
    assert "step-000020" not in done  # it really was interrupted
    code, err = cli(*["rl", "--model", str(tiny_dir), "--data", str(data), "--out", str(killed), *OPTS, *steps, "--resume"])
    assert code == 0, err

    def metrics(run_dir):
        rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if k not in ("step_time_s", "tokens_per_s")} for r in rows]

    assert metrics(killed) == metrics(full)
