"""The command line answers help and bad input without importing the heavy libraries.

Each check runs in a fresh interpreter and looks at `sys.modules` afterwards, so a module-level import
of torch (or transformers, peft, trl, nnsight, TransformerLens) anywhere on the CLI's import path
fails here. How long the answers take is measured by benchmarks/cli_startup.py, not tested.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "peft", "trl", "nnsight", "transformer_lens", "datasets", "sklearn", "math_verify")
COMMANDS = ("organism", "discover", "validate", "tune", "rl", "eval", "drift", "report", "demo", "experiment")

PROBE = """
import json, sys
from kolang.cli import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    code = e.code
else:
    code = 0
print(json.dumps({"code": code, "heavy": [m for m in %r if m in sys.modules]}), file=sys.__stdout__)
""" % (HEAVY,)


def probe(*argv: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120)
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "err": proc.stderr}


def registered() -> list[str]:
    from kolang.cli import _register_commands, app

    _register_commands()
    return sorted(c.name for c in app.registered_commands)


def test_every_command_is_probed():
    assert set(registered()) <= set(COMMANDS)


@pytest.mark.parametrize("argv", [["--help"], [], *[[c, "--help"] for c in COMMANDS]])
def test_help_imports_nothing_heavy(argv):
    if argv and argv[0] not in registered():
        pytest.skip(f"no `{argv[0]}` command")
    r = probe(*argv)
    assert r["code"] in (0, 2, None), r
    assert r["heavy"] == [], r


@pytest.mark.parametrize("argv, words", [
    (["no-such-command"], "No such command"),
    (["tune", "--no-such-option"], "No such option"),
    (["rl", "--temperature", "hot"], "--temperature"),
    (["discover", "--model", "/nonexistent/model", "--out", "x"], "does not exist"),
    (["tune", "--model", "/nonexistent", "--data", "d.jsonl", "--out", "r"], "--neurons"),
    (["tune", "--model", "/nonexistent", "--data", "d.jsonl", "--out", "r", "--adapter", "lora"], "does not exist"),
    (["discover", "--model", "/nonexistent", "--out", "x", "--layers", "1:2:3:4"], "layer"),
    (["validate", "--model", "/nonexistent", "--neurons", "n", "--out", "v", "--n-random", "0"], "--n-random"),
    (["demo", "--layers", "0:99", "--size", "micro"], "--layers"),
    (["eval", "--model", "/nonexistent", "--data", "d.jsonl", "--samples", "0"], "--samples"),
    (["eval", "--model", "/nonexistent", "--data", "d.jsonl", "--target", "xx"], "unknown target"),
])
def test_usage_errors_are_answered_before_any_heavy_import(argv, words):
    r = probe(*argv)
    assert r["code"] == 2, r
    assert words in r["err"].strip().splitlines()[-1], r
    assert r["heavy"] == [], r


@pytest.mark.parametrize("argv, words", [
    (["discover", "--model", "org/absent", "--out", "x"], "HF_HUB_OFFLINE=1"),
    (["validate", "--model", "org/absent", "--neurons", "n", "--out", "v"], "HF_HUB_OFFLINE=1"),
    (["discover", "--model", "/nonexistent", "--out", "x", "--device-map", "banana"], "--device-map"),
    (["discover", "--model", "/nonexistent", "--out", "x", "--attn-implementation", "fast"], "--attn-implementation"),
    (["discover", "--model", "/nonexistent", "--out", "x", "--pair-fields", "ko"], "--pair-fields"),
])
def test_hub_ids_and_load_options_are_checked_before_any_heavy_import(argv, words, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache, offline: the hub id is answered from disk
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r = probe(*argv)
    assert r["code"] == 2, r
    assert words in r["err"].strip().splitlines()[-1], r
    assert r["heavy"] == [], r
