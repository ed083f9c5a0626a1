"""The shipped organism: its files match the card, it meets the recipe's promises, and it installs with kolang."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from kolang.errors import ModelError
from kolang.organism import cache
from kolang.organism.cache import SHIPPED, read_card, shipped_dir
from kolang.organism.config import VERSION, get_config

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_files_match_their_card_and_the_recipe():
    path = shipped_dir()
    card = read_card(path)
    assert card["version"] == VERSION and card["size"] == "full" and card["seed"] == 0
    assert card["config"] == get_config("full").to_dict()
    assert sum(f.stat().st_size for f in path.iterdir()) <= 16 * 2**20
    meas = card["measurements"]
    # S1's premise: Korean questions understood, Korean reasoning absent.
    assert abs(meas["ko_prompts_greedy"]["accuracy"] - meas["en_prompts_greedy"]["accuracy"]) <= 0.05
    assert meas["ko_prompts_greedy"]["korean_share"] <= 0.01 and meas["ko_prompts_t1"]["korean_share"] <= 0.03
    assert card["config"]["num_layers"] >= 6
    # Trained to convergence: levels 1-3 and level 4's times-table half learned, level 4 mid-range because its
    # three-digit half is beyond the organism (the task, not where training stopped, sets it).
    for m in meas.values():
        assert min(m["accuracy_by_level"][lv] for lv in ("1", "2", "3")) >= 0.9
        assert 0.3 < m["accuracy_by_level"]["4"] < 0.7
        assert m["accuracy_level4_by_product"]["times table"] >= 0.9 and m["accuracy_level4_by_product"]["hard"] <= 0.1
    # Its Korean neurons are localised: ablated, they raise Korean reasoning NLL 3x the most-hit other pair, and
    # more than every layer-matched random set.
    kn = card["korean_neurons"]
    d = kn["delta_ablated"]
    assert d["ko->ko"] >= 3 * max(d["en->en"], d["ko->en"], 0.0)
    assert all(d["ko->ko"] > r["ko->ko"] for r in kn["delta_random"]) and len(kn["delta_random"]) >= 3
    # and on Korean drills, text it was trained to write, against English drills
    dd = kn["delta_ablated_drills"]
    assert dd["drill-ko"] >= 3 * max(dd["drill-en"], 0.0)
    assert all(dd["drill-ko"] > r["drill-ko"] for r in kn["delta_random_drills"])


def test_a_changed_shipped_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "shipped"
    shutil.copytree(SHIPPED, copy)
    monkeypatch.setattr(cache, "SHIPPED", copy)
    assert shipped_dir() == copy
    with open(copy / "model.safetensors", "r+b") as f:  # one byte flipped in the weights
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 1]))
    with pytest.raises(ModelError, match="does not match its card"):
        shipped_dir()


@pytest.mark.slow
def test_wheel_and_sdist_carry_the_organism(tmp_path):
    names = sorted(f.name for f in SHIPPED.iterdir())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=600)
    wheel = next(tmp_path.glob("kolang-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        assert {n.rsplit("/", 1)[1] for n in z.namelist() if n.startswith("kolang/organism/shipped/")} == set(names)
        z.extractall(tmp_path / "site")
    # Loaded from the unpacked wheel (ahead of the editable checkout on the path), its digests hold.
    code = ("import kolang, sys; from kolang.organism.cache import shipped_dir; from kolang.models import load_model; "
            "p = shipped_dir(); assert str(p).startswith(sys.argv[1]), p; m, t = load_model(p); print(p)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "site")], check=True, capture_output=True,
                         text=True, timeout=300, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin",
                                                      "HOME": str(tmp_path)})
    assert out.stdout.strip().startswith(str(tmp_path / "site"))
    sdist_dir = tmp_path / "sdist"
    subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
                    "print(b.build_sdist(sys.argv[1]))", str(sdist_dir)], check=True, cwd=ROOT, capture_output=True,
                   timeout=600)
    with tarfile.open(next(sdist_dir.glob("kolang-*.tar.gz"))) as t:
        inside = {Path(m.name).name for m in t.getmembers() if "/kolang/organism/shipped/" in m.name}
    assert inside == set(names)
