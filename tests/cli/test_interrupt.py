"""Ctrl-C, SIGTERM, kill -9 and failed starts: a run stops with exit 130 (143 for SIGTERM) and a line saying how
to resume, resumes to the same result, and kolang cleans up only after itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from kolang.data.io import write_jsonl
from kolang.neurons.neuronset import NeuronSet, fingerprint_of
from kolang.tiny import save_tiny, tiny_model

SFT = [{"prompt": f"{a} 더하기 1은?", "completion": f"{a} 더하기 1은 {a + 1}입니다."} for a in range(6)]
RL = [{"prompt": f"{a} 더하기 1은?", "answer": str(a + 1), "lang": "ko"} for a in range(4)]
RL_OPTS = ["--group-size", "2", "--prompts-per-step", "1", "--max-completion-length", "4", "--no-filter-groups",
           "--save-every", "1", "--threads", "1"]


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    root = tmp_path_factory.mktemp("w")
    save_tiny(root / "model", "qwen2")
    NeuronSet({0: [1, 2]}, fingerprint_of(tiny_model("qwen2")), method="contrast", target="ko").save(root / "ns")
    write_jsonl(root / "sft.jsonl", SFT)
    write_jsonl(root / "rl.jsonl", RL)
    return root


def tune_argv(w, out, steps):
    return ["tune", "--model", w / "model", "--data", w / "sft.jsonl", "--neurons", w / "ns", "--out", out,
            "--steps", str(steps), "--batch-size", "2", "--save-every", "1", "--layers", "0:1"]


def metrics(run):
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("elapsed_s", "step_time_s", "tokens_per_s")} for r in rows]


@pytest.mark.slow
def test_ctrl_c_exits_130_with_a_resume_line_and_resumes_exactly(w, tmp_path, cli):
    steps = 400  # long enough that the signal lands mid-run
    full = tmp_path / "full"
    assert cli(*tune_argv(w, full, 12)).code == 0
    out = tmp_path / "run"
    env = {**os.environ, "KOLANG_THREADS": "1"}
    # The signal goes to the process itself, with SIGINT's default action restored as in a terminal's foreground job:
    # started in the background by a shell script (`nohup pytest … &`), the tests would hand an ignored SIGINT down
    # to it, which kolang (as any program) keeps ignored.
    proc = subprocess.Popen([sys.executable, "-m", "kolang", *map(str, tune_argv(w, out, steps))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "checkpoint" / "state.json").is_file():
        time.sleep(0.02)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    last = [ln for ln in err.strip().splitlines() if ln.strip()][-1]
    assert last.startswith("kolang: interrupted:") and "--resume" in last and "Traceback" not in err, err
    done = len(metrics(out))
    assert 0 < done < steps
    # resumed to 12 steps (its options allow more steps later), it logs what the uninterrupted run logged
    result = cli(*tune_argv(w, out, max(12, done + 1)), "--resume")
    assert result.code == 0, result.err
    assert metrics(out)[:12] == metrics(full)[: len(metrics(out)[:12])]


@pytest.mark.slow
def test_sigterm_removes_the_half_trained_organism_and_exits_143(tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "KOLANG_THREADS": "1", "KOLANG_CACHE": str(cache)}
    proc = subprocess.Popen([sys.executable, "-m", "kolang", "organism", "--train", "--size", "micro", "--seed", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and not list(cache.glob(".organism-*.tmp")) and proc.poll() is None:
        time.sleep(0.02)
    assert list(cache.glob(".organism-*.tmp")), "training never started its temporary folder"
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1].startswith("kolang: terminated") and "Traceback" not in err, err
    assert [p.name for p in cache.iterdir()] == [".locks"], "a terminated training left files in the cache"
    assert [p.name for p in (cache / ".locks").iterdir()] == ["organism-6-micro-seed5.lock"]  # empty, kept


def test_resume_removes_what_a_killed_checkpoint_write_left(w, tmp_path, cli):
    out = tmp_path / "rl"
    argv = ["rl", "--model", w / "model", "--data", w / "rl.jsonl", "--out", out, *RL_OPTS]
    assert cli(*argv, "--steps", "2").code == 0
    stale = out / "checkpoints" / ".step-000003.x1y2.tmp"  # what a kill -9 mid-write leaves
    stale.mkdir()
    (stale / "trainable.safetensors").write_bytes(b"half")
    mine = out / "checkpoints" / "notes.txt"  # not kolang's: kept
    mine.write_text("keep me")
    result = cli(*argv, "--steps", "3", "--resume")
    assert result.code == 0, result.err
    assert not stale.exists() and mine.read_text() == "keep me"
    assert (out / "checkpoints" / "step-000003" / "state.json").is_file()


def test_resume_of_a_folder_that_never_ran_says_so(w, tmp_path, cli):
    result = cli(*tune_argv(w, tmp_path / "new", 1), "--resume")
    assert result.code == 0, result.err
    assert "nothing to resume" in result.err


def test_a_run_that_failed_at_its_first_step_can_be_started_again(w, tmp_path, cli):
    out = tmp_path / "rl"
    base = ["rl", "--model", w / "model", "--data", w / "rl.jsonl", "--out", out, *RL_OPTS, "--steps", "1"]
    # every group is filtered out (all completions score the same) and the step is refused
    failed = cli(*base[:-4], "--filter-groups", "--filter-low", "0.9", "--steps", "1")
    failed.one_line_error("filtered out")
    assert (out / "config.json").is_file()
    again = cli(*base)  # the corrected command, no --resume or --force needed
    assert again.code == 0, again.err
