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

    from kolang.io import atomic_dir, atomic_write_text

    with atomic_dir(tmp_path / "d") as tmp:
        atomic_write_text(tmp / "v.txt", "1")
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "d") as tmp:
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
