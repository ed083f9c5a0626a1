"""Atomic writes: a temporary name, then a rename; ordinary permissions; nothing half-written."""
def test_atomic_writes_leave_ordinary_permissions(tmp_path):
    import os

    from kolang.io import atomic_dir, atomic_write_text

    atomic_write_text(tmp_path / "a.txt", "x")
    with atomic_dir(tmp_path / "d") as tmp:
        atomic_write_text(tmp / "b.txt", "y")
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(tmp_path / "a.txt").st_mode & 0o777 == 0o666 & ~mask
    assert os.stat(tmp_path / "d").st_mode & 0o777 == 0o777 & ~mask
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_a_failed_atomic_dir_leaves_the_old_one(tmp_path):
    import pytest

    from kolang.io import atomic_dir, atomic_write_text, holds_only

    with atomic_dir(tmp_path / "d") as tmp:
        atomic_write_text(tmp / "v.txt", "1")
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "d", holds_only(["v.txt"])) as tmp:
            atomic_write_text(tmp / "v.txt", "2")
            raise RuntimeError("crash mid-write")
    assert (tmp_path / "d" / "v.txt").read_text() == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_trim_jsonl_drops_later_steps_and_a_torn_line(tmp_path):
    from kolang.io import trim_jsonl

    p = tmp_path / "m.jsonl"
    p.write_text('{"step": 0}\n{"step": 1}\n{"step": 2}\n{"ste')
    trim_jsonl(p, 2)
    assert p.read_text() == '{"step": 0}\n{"step": 1}\n'


def test_atomic_dir_replaces_only_what_kolang_wrote(tmp_path):
    import pytest

    from kolang.errors import OutputError
    from kolang.io import atomic_dir, atomic_write_text, holds_only

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "mine.txt").write_text("user")
    for owned in (None, holds_only(["v.txt"])):
        with pytest.raises(OutputError, match="did not write"):
            with atomic_dir(tmp_path / "d", owned) as tmp:
                atomic_write_text(tmp / "v.txt", "1")
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["mine.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["d"]  # no temporary left
    with atomic_dir(tmp_path / "e") as tmp:  # a new or empty folder is always fine
        atomic_write_text(tmp / "v.txt", "1")
    with atomic_dir(tmp_path / "e", holds_only(["*.txt"])) as tmp:  # patterns, and a rewrite of its own
        atomic_write_text(tmp / "w.txt", "2")
    assert [p.name for p in (tmp_path / "e").iterdir()] == ["w.txt"]


def test_read_jsonl_skips_only_a_torn_last_line(tmp_path):
    import pytest

    from kolang.errors import DataError
    from kolang.io import read_jsonl, torn

    p = tmp_path / "m.jsonl"
    p.write_text('{"a": 1}\n\n{"a": 2}\n{"a"')
    assert read_jsonl(p) == [{"a": 1}, {"a": 2}] and torn(p)
    p.write_text('{"a": 1}\nnot json\n{"a": 2}\n')
    with pytest.raises(DataError, match=r"m.jsonl:2"):
        read_jsonl(p)
    p.write_text('{"a": 1}\n[1]\n')
    with pytest.raises(DataError, match=r"m.jsonl:2 is list"):
        read_jsonl(p)


def test_json_written_is_strict(tmp_path):
    import json

    from kolang.io import append_jsonl, atomic_write_json

    append_jsonl(tmp_path / "m.jsonl", {"loss": float("nan"), "x": [float("inf"), 1.0]})
    atomic_write_json(tmp_path / "c.json", {"v": float("-inf")})
    strict = lambda s: json.loads(s, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))  # noqa: E731
    assert strict((tmp_path / "m.jsonl").read_text()) == {"loss": None, "x": [None, 1.0]}
    assert strict((tmp_path / "c.json").read_text()) == {"v": None}


def test_exclusive_makes_a_second_holder_wait_and_says_so(tmp_path):
    import threading
    import time

    from kolang.io import exclusive

    order, waited = [], []

    def second():
        with exclusive(tmp_path / "x.lock", lambda: waited.append(1)):
            order.append("second")

    with exclusive(tmp_path / "x.lock"):
        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.3)
        order.append("first")
    t.join(10)
    assert order == ["first", "second"] and waited == [1]
    with exclusive(tmp_path):  # a folder can be the lock too
        pass
