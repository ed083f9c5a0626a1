"""Files kolang writes and reads back: atomic writes, JSONL logs, and the rule that it never deletes
or replaces what it did not write.

Every artifact is written beside its final place under a temporary name and renamed into place, so
nothing half-written is ever left where a loader would trust it. An existing folder is replaced
only when it is empty or holds nothing but what that artifact writes (`holds_only`); anything else
is refused with an `OutputError`, so `--out` pointed at a model, a run or a home folder deletes
nothing.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kolang.errors import DataError, OutputError

try:
    import fcntl
except ImportError:  # no flock (Windows): nothing is locked, one process a folder
    fcntl = None

Owned = Callable[[Path], bool]  # does this existing folder hold only what kolang wrote there?


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def is_temp_name(name: str, target: str | None = None) -> bool:
    """True for the names of kolang's own temporary files and folders (`.<target>.<random>.tmp`)."""
    return name.startswith(f".{target}." if target else ".") and name.endswith(".tmp")


@contextmanager
def exclusive(path: str | Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on `path` (a folder, or a lock file created if missing) for the block, so that
    processes sharing it take turns; `on_wait` is called once when another process holds it. The lock goes with
    the process, so a killed holder never leaves it held."""
    path = Path(path)
    if fcntl is None:
        yield
        return
    fd = os.open(path, os.O_RDONLY) if path.is_dir() else os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def remove_stale_temps(folder: Path, target: str | None = None) -> int:
    """Delete temporaries a killed writer left in `folder` (of `target` only, when given); returns how many.

    Only names kolang itself gives temporaries are touched (`is_temp_name`).
    """
    if not folder.is_dir():
        return 0
    n = 0
    for entry in folder.iterdir():
        if is_temp_name(entry.name, target):
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() and not entry.is_symlink() else entry.unlink(
                missing_ok=True)
            n += 1
    return n


def check_writable(path: str | Path, what: str = "--out", file: bool = False) -> Path:
    """Refuse (`OutputError`) an output folder (or, with `file`, file) that cannot be created: the
    current folder or one above it, a path below a file, or a place without write permission."""
    path = Path(path)
    resolved = path.expanduser().resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise OutputError(f"{what} {path} is the current folder or one above it; name a new "
                          f"{'file' if file else 'folder'} to write")
    if not file and path.is_file():
        raise OutputError(f"{what} {path} is a file; name a folder")
    if file and path.is_dir():
        raise OutputError(f"{what} {path} is a folder; name the file to write")
    parent = resolved.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{what} {path} lies below {parent}, which is a file")
    try:  # permissions say too little (root may "write" /proc): create and remove a probe
        os.rmdir(tempfile.mkdtemp(prefix=".kolang-probe.", suffix=".tmp", dir=parent))
    except OSError as e:
        raise OutputError(f"{what} {path} cannot be created: {parent} is not writable ({e.strerror})") from None
    return path


def holds_only(names: Collection[str]) -> Owned:
    """A predicate: the folder holds no entries besides `names` (exact names or `fnmatch` patterns such
    as `*.safetensors`) and kolang's own temporaries."""
    patterns = tuple(names)
    return lambda p: all(is_temp_name(e.name) or any(fnmatch.fnmatchcase(e.name, n) for n in patterns)
                         for e in p.iterdir())


def anything(_path: Path) -> bool:
    """For folders inside a folder kolang made (a run's `adapter/`, `merged/`): always replaceable."""
    return True


def require_replaceable(path: Path, owned: Owned | None, what: str) -> None:
    """`OutputError` unless `path` is missing, an empty folder, or a folder `owned` says kolang wrote."""
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_dir() or path.is_symlink():
        raise OutputError(f"{path} exists and is not a folder; kolang will not replace it (choose another {what})")
    if not any(path.iterdir()):
        return
    if owned is None or not owned(path):
        raise OutputError(f"{path} exists and holds files kolang did not write there; it is left untouched "
                          f"(choose another {what}, or empty it yourself)")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, fsync it, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; artifacts are ordinary files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def json_text(obj: Any, indent: int | None = None) -> str:
    """Strict JSON of `obj` (NaN and infinities become null), so every file kolang writes parses anywhere."""
    return json.dumps(_finite(obj), indent=indent, ensure_ascii=False, allow_nan=False)


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write `obj` as indented UTF-8 JSON, atomically."""
    atomic_write_text(path, json_text(obj, indent=2) + "\n")


def append_jsonl(path: str | Path, obj: Any) -> None:
    """Append one strict-JSON line and flush it (metrics logs; a torn last line is skipped on read)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json_text(obj) + "\n")
        f.flush()


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file, one a line; blank lines are skipped.

    A last line that does not parse and has no newline is a write cut short (a killed run) and is
    skipped; any other line that is not a JSON object raises `DataError` naming the file and line.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start}); re-encode it as UTF-8") from None
    lines = text.split("\n")
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            if n == len(lines):  # no newline after it: torn by a killed writer
                continue
            raise DataError(f"{path}:{n} is not a JSON line ({e.msg}); expected one JSON object a line") from None
        if not isinstance(rec, dict):
            raise DataError(f"{path}:{n} is {type(rec).__name__}, expected a JSON object")
        out.append(rec)
    return out


def torn(path: str | Path) -> bool:
    """True when a JSONL log's last line was cut short (no newline after it): `read_jsonl` skips it."""
    path = Path(path)
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() == 0:
            return False
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"


def trim_jsonl(path: str | Path, upto: int, key: str = "step") -> None:
    """Keep the lines whose `key` is < `upto`: a resumed run rewrites the steps after its checkpoint.

    A torn last line (a killed run) is dropped.
    """
    path = Path(path)
    if not path.is_file():
        return
    keep = [r for r in read_jsonl(path) if isinstance(r.get(key), (int, float)) and r[key] < upto]
    atomic_write_text(path, "".join(json_text(r) + "\n" for r in keep))


@contextmanager
def atomic_dir(path: str | Path, owned: Owned | None = None, what: str = "--out") -> Iterator[Path]:
    """Yield a temporary directory beside `path`; on success it replaces `path` in one rename.

    An existing non-empty `path` is replaced only when `owned(path)` says it holds nothing but what
    kolang wrote there; otherwise `OutputError`, before anything is written. If the block raises,
    the temporary directory is removed and `path` is left as it was.
    """
    path = Path(path)
    require_replaceable(path, owned, what)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent, path.name)  # left by a writer killed mid-write
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; artifacts are ordinary folders
    try:
        yield tmp
        if path.exists():
            require_replaceable(path, owned, what)  # still true after the work, or nothing is touched
            old = path.with_name(f".{path.name}.old-{os.getpid()}.tmp")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
