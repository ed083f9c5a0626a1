"""The stage ledger shared by processes working in one folder: each stage claimed before it runs, so none runs
twice; a live claim is waited for or passed over, a dead process's claim is taken over."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from kolang.errors import RunDirError
from kolang.io import atomic_write_json, exclusive
from kolang.pipeline import stages as stages_mod
from kolang.pipeline.stages import Claimed, Stages

KEY = {"rl_steps": 1}


def quiet(_line: str) -> None:
    pass


@pytest.fixture
def other():
    """A live process of this host that is not us: the owner of a claim."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def claim_as(folder, name, pid, host=None):
    """Claim `name` as another process would: under the folder's lock, the ledger replaced whole."""
    with exclusive(folder):
        ledger = json.loads((folder / "stages.json").read_text())
        ledger["running"][name] = {"pid": pid, "host": host or socket.gethostname()}
        atomic_write_json(folder / "stages.json", ledger)


def finish_as(folder, name, result):
    with exclusive(folder):
        ledger = json.loads((folder / "stages.json").read_text())
        ledger["done"][name] = result
        del ledger["running"][name]
        atomic_write_json(folder / "stages.json", ledger)


def test_a_stage_another_live_process_runs_is_passed_over_or_waited_for(tmp_path, other, monkeypatch):
    monkeypatch.setattr(stages_mod, "POLL_S", 0.05)
    st = Stages(tmp_path, False, KEY)
    st.run("first", lambda: {"x": 1}, quiet)
    claim_as(tmp_path, "second", other)
    ran = []
    with pytest.raises(Claimed, match=str(other)):
        st.run("second", lambda: ran.append(1) or {"x": 2}, quiet, wait=False)
    got = {}
    waiter = threading.Thread(target=lambda: got.update(st.run("second", lambda: ran.append(1) or {"x": 3}, quiet)))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive()  # still waiting on the other process
    finish_as(tmp_path, "second", {"x": 2, "seconds": 0.1})
    waiter.join(10)
    assert got == {"x": 2, "seconds": 0.1} and ran == []  # the other's result, and nothing ran here
    assert json.loads((tmp_path / "stages.json").read_text())["running"] == {}


def test_others_lists_each_live_process_once(tmp_path, other):
    st = Stages(tmp_path, False, KEY)
    st.run("first", lambda: {"x": 1}, quiet)
    assert st.others() == []
    claim_as(tmp_path, "second", other)
    claim_as(tmp_path, "third", other)
    assert st.others() == [{"host": socket.gethostname(), "pid": other}]


def test_the_claim_of_a_dead_process_is_taken_over(tmp_path):
    Stages(tmp_path, False, KEY).run("first", lambda: {"x": 1}, quiet)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    claim_as(tmp_path, "second", gone.pid)
    assert Stages(tmp_path, False, KEY).run("second", lambda: {"x": 2}, quiet, wait=False)["x"] == 2


def test_a_claim_from_another_host_is_honoured(tmp_path):
    Stages(tmp_path, False, KEY).run("first", lambda: {"x": 1}, quiet)
    claim_as(tmp_path, "second", 1, host="elsewhere")
    with pytest.raises(Claimed, match="elsewhere"):
        Stages(tmp_path, False, KEY).run("second", lambda: {"x": 2}, quiet, wait=False)


def test_a_failed_stage_releases_its_claim_and_runs_again(tmp_path):
    st = Stages(tmp_path, False, KEY)

    def boom() -> dict:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        st.run("first", boom, quiet)
    ledger = json.loads((tmp_path / "stages.json").read_text())
    assert ledger["running"] == {} and ledger["done"] == {}
    assert st.run("first", lambda: {"x": 1}, quiet)["x"] == 1


def test_fresh_is_refused_while_another_process_works_there(tmp_path, other):
    Stages(tmp_path, False, KEY).run("first", lambda: {"x": 1}, quiet)
    claim_as(tmp_path, "second", other)
    with pytest.raises(RunDirError, match=f"pid {other}"):
        Stages(tmp_path, True, KEY)
    assert json.loads((tmp_path / "stages.json").read_text())["done"]["first"]["x"] == 1  # nothing deleted


@pytest.mark.slow
def test_two_experiment_processes_share_one_folder_and_run_each_stage_once(micro_organism, tmp_path):
    import os

    env = {**os.environ, "KOLANG_CACHE": str(micro_organism.parent), "KOLANG_THREADS": "1"}
    out = tmp_path / "exp"
    argv = [sys.executable, "-m", "kolang", "experiment", "--size", "micro", "--out", str(out), "--tune-steps", "2",
            "--rl-steps", "1", "--eval-problems", "3", "--early", "0:1", "--late", "1:2", "--seeds", "0",
            "--seeds", "1", "--arms", "rl_only", "--arms", "ko_neurons_early+rl", "--sweep", "0.12",
            "--sweep-arms", "rl_only"]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)]
    deadline = time.time() + 120  # the second joins once the first has claimed a stage
    while time.time() < deadline and procs[0].poll() is None:
        if (out / "stages.json").is_file() and json.loads((out / "stages.json").read_text()).get("running"):
            break
        time.sleep(0.05)
    procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    outputs = [p.communicate(timeout=900) for p in procs]
    for p, (so, se) in zip(procs, outputs):
        assert p.returncode == 0, se
    ledger = json.loads((out / "stages.json").read_text())
    assert ledger["running"] == {}
    ran = [line.split(":")[0] for so, se in outputs for line in (so + se).splitlines() if ": done in " in line]
    assert sorted(ran) == sorted(ledger["done"])  # every stage ran, in one process only
    assert json.loads((out / "experiment.json").read_text())["rows"]


def test_a_process_finding_the_organism_in_training_waits_and_reuses_it(micro_organism, tmp_path):
    import os
    import shutil

    from kolang.io import exclusive
    from kolang.organism.cache import organism_dir

    path = organism_dir("micro", tmp_path)
    code = "import sys; from kolang.pipeline.organism import build; print(build('micro', sys.argv[1]))"
    (tmp_path / ".locks").mkdir()
    with exclusive(tmp_path / ".locks" / f"{path.name}.lock"):  # as a process training it holds it
        proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "KOLANG_THREADS": "1"})
        seen = []
        while not any("another process is training the organism" in x for x in seen):
            line = proc.stderr.readline()  # blocks until the waiting process says it waits
            assert line, "".join(seen)  # it ended without waiting
            seen.append(line)
        shutil.copytree(micro_organism, path)  # what that training leaves
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.strip() == str(path)
    assert (path / "card.json").read_bytes() == (micro_organism / "card.json").read_bytes()  # reused, not retrained


def test_fresh_starts_over_from_a_garbled_ledger(tmp_path):
    (tmp_path / "stages.json").write_text("{not json")
    with pytest.raises(RunDirError, match="cannot be read"):
        Stages(tmp_path, False, KEY)
    assert Stages(tmp_path, True, KEY).done == {}


def test_each_stage_records_when_it_ran_and_a_ledger_without_spans_still_loads(tmp_path):
    (tmp_path / "stages.json").write_text(json.dumps({"key": {"version": stages_mod.STAGES_VERSION, **KEY},
                                                      "done": {"old": {"x": 0, "seconds": 5.0}}, "running": {}}))
    st = Stages(tmp_path, False, KEY)  # written by a kolang that kept no spans
    assert st.done["old"]["x"] == 0 and st.spans == {}
    before = time.time()
    st.run("new", lambda: (time.sleep(0.3), {"x": 1})[1], quiet)
    start, end = json.loads((tmp_path / "stages.json").read_text())["spans"]["new"]
    assert before - 0.1 <= start and end - start >= 0.25 and end <= time.time() + 0.1
    assert Stages(tmp_path, False, KEY).spans == {"new": [start, end]}  # and the old stage keeps its result
    assert Stages(tmp_path, False, KEY).done["old"]["x"] == 0


def test_a_parts_wall_time_counts_side_by_side_stages_once_and_leaves_out_a_part_it_cannot_know():
    from kolang.pipeline.experiment import _wall_seconds

    done = {n: {} for n in ("discover", "rl_only/seed0", "rl_only/seed1", "sweep/koko3/organism",
                            "sweep/koko3/rl_only/seed0", "sweep/koko12/rl_only/seed0", "sweep/koko12/discover")}
    spans = {"discover": [0, 10], "rl_only/seed0": [10, 100], "rl_only/seed1": [50, 120],  # two at once
             "sweep/koko3/organism": [1000, 1600], "sweep/koko3/rl_only/seed0": [5000, 5100],  # a day between
             "sweep/koko12/rl_only/seed0": [0, 10]}  # koko12's discovery ran on an older kolang: no span
    assert _wall_seconds(done, spans) == {"main": 120.0, "koko3 organism": 600.0, "koko3": 100.0}


def test_the_whole_experiments_wall_time_is_the_union_of_its_stages_and_unknown_if_one_was_never_timed():
    from kolang.pipeline.experiment import _whole_wall_seconds

    done = {n: {} for n in ("discover", "rl_only/seed0", "sweep/koko3/organism", "sweep/koko3/rl_only/seed0")}
    spans = {"discover": [0, 10], "rl_only/seed0": [10, 100], "sweep/koko3/organism": [5, 600],  # side by side
             "sweep/koko3/rl_only/seed0": [5000, 5100]}  # in a later session: the gap does not count
    assert _whole_wall_seconds(done, spans) == 700.0
    assert _whole_wall_seconds({**done, "old": {}}, spans) is None and _whole_wall_seconds({}, {}) is None


def test_stage_rates_time_each_kind_of_stage_and_estimate_the_whole():
    from kolang.pipeline.experiment import stage_rates

    done = {n: {} for n in ("data", "organism", "rl_only/seed0", "rl_only/seed1", "sweep/koko3/rl_only/seed0",
                            "tune/neurons_early_consistent/seed0", "lora_early+rl/seed0", "sweep/koko3/organism")}
    spans = {"rl_only/seed0": [0, 100], "sweep/koko3/rl_only/seed0": [0, 300], "tune/neurons_early_consistent/seed0":
             [0, 50], "sweep/koko3/organism": [0, 1000]}
    rates = stage_rates(done, spans)
    kinds = rates["kinds"]
    assert "organism" not in kinds  # the cards say how long an organism took
    assert kinds["rl_only"] == {"n": 2, "count": 3, "mean_s": 200.0}  # the same arm on every organism
    assert kinds["tune"] == {"n": 1, "count": 1, "mean_s": 50.0}
    assert kinds["lora_early+rl"] == {"n": 0, "count": 1, "mean_s": 200.0}  # an untimed arm: the timed RL runs' mean
    assert kinds["data"] == {"n": 0, "count": 1, "mean_s": None}
    assert rates["one_core_s"] == 3 * 200 + 50 + 200 and (rates["timed"], rates["stages"]) == (3, 6)
