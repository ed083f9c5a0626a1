"""Shared fixtures: tiny random-init models of every family and their directories."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

# Under pytest-xdist each worker gets one thread: two workers on two cores, no oversubscription.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else max(1, min(2, os.cpu_count() or 1)))


def pytest_collection_modifyitems(config, items):
    """`gpu`-marked tests skip cleanly where there is no CUDA device (benchmarks/gpu_check.sh runs them)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: tiny models gain nothing from more, and a shared CPU makes them spin."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def free_port() -> int:
    """A TCP port free right now, for a torchrun rendezvous (a fixed one collides with parallel runs)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def byte_tok():
    from kolang.tiny import byte_tokenizer

    return byte_tokenizer()


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """A tiny Qwen2 model directory with the byte tokenizer."""
    from kolang.tiny import save_tiny

    return save_tiny(tmp_path_factory.mktemp("tiny") / "qwen2", "qwen2")


@pytest.fixture(scope="session")
def micro_organism(tmp_path_factory):
    """The micro model organism's directory, built once per session into a temporary cache."""
    from filelock import FileLock

    from kolang.pipeline.organism import build

    base = tmp_path_factory.getbasetemp()
    # Common to every xdist worker of this run (their base folders share a parent); without xdist the
    # parent is shared by every run of the user, where a stale organism must never be reused.
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    with FileLock(str(shared / "organism.lock")):  # one worker trains it, the others reuse the cache
        return build("micro", cache_dir=shared / "organism-cache", seed=0, threads=1)


@dataclass
class CliResult:
    """What one `kolang` invocation did: its exit status and what it printed."""

    code: int
    out: str
    err: str

    def __iter__(self):  # `code, err = cli(...)`
        return iter((self.code, self.err))

    @property
    def lines(self) -> list[str]:
        return [ln for ln in self.err.strip().splitlines() if ln.strip()]

    def one_line_error(self, needle: str = "") -> str:
        """Assert exit status 2 with one `kolang: error:` line (containing `needle`) and no traceback."""
        assert self.code == 2, (self.code, self.err)
        assert "Traceback" not in self.err, self.err
        assert len(self.lines) >= 1 and self.lines[-1].startswith("kolang: error:"), self.err
        assert needle in self.lines[-1], (needle, self.err)
        return self.lines[-1]


@pytest.fixture
def cli(capsys):
    """`cli(*argv) -> CliResult`: run the `kolang` command line in-process (one helper for every CLI test)."""
    from kolang.cli import main

    def run(*argv: object) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in argv])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        cap = capsys.readouterr()
        return CliResult(code, cap.out, cap.err)

    return run


class HubCache:
    """A Hugging Face cache laid out as huggingface_hub writes one: `models--org--name/` holding content-addressed
    `blobs/`, `snapshots/<commit>/` of links to them, and `refs/<branch>` naming a commit."""

    def __init__(self, home: Path):
        self.home = home
        self.cache = home / "hub"

    def add(self, repo_id: str = "org/tiny", ref: str | None = "main", commit: str | None = None, seed: int = 0,
            **tiny: int) -> Path:
        """Put a tiny Qwen2 model (seed, and sizes as `kolang.tiny.save_tiny` takes them) in the cache as a
        snapshot of `repo_id`; `ref` names it, `commit` defaults to a hash of the contents. Returns the snapshot."""
        from kolang.tiny import save_tiny

        src = save_tiny(self.home / "src" / f"{repo_id.replace('/', '--')}-{seed}-{sorted(tiny.items())}", "qwen2",
                        seed=seed, **tiny)
        files = {f.name: f.read_bytes() for f in sorted(src.iterdir())}
        commit = commit or hashlib.sha1(b"".join(files.values())).hexdigest()
        repo = self.cache / ("models--" + repo_id.replace("/", "--"))
        snapshot = repo / "snapshots" / commit
        snapshot.mkdir(parents=True, exist_ok=True)
        (repo / "blobs").mkdir(exist_ok=True)
        for name, data in files.items():
            blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
            blob.write_bytes(data)
            link = snapshot / name
            if not link.exists():
                link.symlink_to(os.path.relpath(blob, snapshot))
        if ref is not None:
            (repo / "refs").mkdir(exist_ok=True)
            (repo / "refs" / ref).write_text(commit)
        return snapshot


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache in a temporary HF_HOME with HF_HUB_OFFLINE=1, for this process (huggingface_hub
    reads both when it is imported, so its constants are set too) and for the subprocesses it starts."""
    import huggingface_hub.constants as hub

    home = tmp_path / "hf_home"
    home.mkdir()
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "HF_HOME", str(home))
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    return HubCache(home)


@pytest.fixture(scope="session")
def readme_script():
    """scripts/readme.py as a module: the renderers of the README's result blocks."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_script", Path(__file__).resolve().parents[1] / "scripts" / "readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
