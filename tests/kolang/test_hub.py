"""Models named as `from_pretrained` names them: local folders, hub ids read from a Hugging Face cache laid out
as huggingface_hub writes it (offline), and a Hub on localhost that serves, refuses or never answers, each
answered in one line within seconds."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import pytest

from kolang.errors import ConfigError, KolangNote, ModelError, NeuronSetError
from kolang.hub import describe, is_path, locate, same_source, source_record

COMMIT_B = "b" * 40


def test_paths_and_hub_ids_are_told_apart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org").mkdir()
    for text in ("./m", "/abs/m", "~/m", "a/b/c", "org/name", "org/name/"):
        assert is_path(text), text  # written like a path, or its folder exists here
    for text in ("Qwen/Qwen2.5-0.5B-Instruct", "gpt2", "meta-llama/Llama-3.2-1B"):
        assert not is_path(text), text
    with pytest.raises(ModelError, match="the folder org does, it is read as a path; to name the hub model org/name"):
        locate("org/name")


def test_local_folders_are_checked_and_take_no_revision(tiny_dir, tmp_path):
    assert locate(tiny_dir).folder == tiny_dir and locate(tiny_dir).repo_id is None
    assert locate(tiny_dir).record() == {"path": str(tiny_dir.absolute())} and str(locate(tiny_dir)) == str(tiny_dir)
    with pytest.raises(ModelError, match="does not exist"):
        locate(tmp_path / "missing")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ModelError, match="is a file"):
        locate(tmp_path / "f.txt")
    with pytest.raises(ModelError, match="no config.json"):
        locate(tmp_path)
    with pytest.raises(ConfigError, match="applies to a hub id"):
        locate(tiny_dir, revision="main")


def test_a_cached_snapshot_is_found_offline_by_branch_hash_and_at(hub_cache):
    a = hub_cache.add("org/tiny")
    b = hub_cache.add("org/tiny", ref=None, commit=COMMIT_B, seed=1)
    main = locate("org/tiny")
    assert (main.folder, main.repo_id, main.revision, main.online) == (a, "org/tiny", a.name, False)
    assert main.record() == {"id": "org/tiny", "revision": a.name} and str(main) == f"org/tiny@{a.name[:12]}"
    assert locate("org/tiny", revision=COMMIT_B).folder == b
    assert locate(f"org/tiny@{COMMIT_B}").folder == b
    with pytest.raises(ConfigError, match="give one"):
        locate(f"org/tiny@{COMMIT_B}", revision="main")


def test_an_uncached_model_offline_says_which_and_what_to_do(hub_cache):
    hub_cache.add("org/tiny")
    with pytest.raises(ModelError) as e:
        locate("org/absent")
    assert "HF_HUB_OFFLINE=1" in str(e.value) and "hf download org/absent" in str(e.value)
    with pytest.raises(ModelError, match="org/tiny@v2"):
        locate("org/tiny", revision="v2")  # the repo is cached, that revision is not
    with pytest.raises(ModelError, match="neither a local folder nor a hub id"):
        locate("not a repo!")


@pytest.mark.parametrize("failure", ["no network", "503"])
def test_an_unreachable_hub_falls_back_to_the_cache_with_a_note(hub_cache, monkeypatch, failure):
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError

    try:
        import httpx2 as http  # the HTTP client of huggingface_hub >= 2
    except ImportError:
        import httpx as http

    def head(url: str, **kw: object) -> None:
        request = http.Request("HEAD", url)
        if failure == "no network":
            raise http.ConnectError("[Errno -2] Name or service not known", request=request)
        raise HfHubHTTPError("503 Server Error", response=http.Response(503, request=request))

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", head)
    a = hub_cache.add("org/tiny")
    with pytest.warns(KolangNote, match=f"using org/tiny@{a.name[:12]} from the cache"):
        assert locate("org/tiny").folder == a
    with pytest.raises(ModelError, match="connect to the network"):
        locate("org/absent")


def test_load_model_from_the_cache_records_where_the_weights_came_from(hub_cache, tiny_dir, one_thread):
    from kolang.arch import resolve
    from kolang.models import load_model

    a = hub_cache.add("org/tiny")
    hub_cache.add("org/tiny", ref=None, commit=COMMIT_B, seed=1)
    model, tok = load_model("org/tiny", dtype="fp32")
    assert resolve(model).fingerprint()["source"] == {"id": "org/tiny", "revision": a.name}
    assert tok("안녕", add_special_tokens=False)["input_ids"]
    other, _ = load_model("org/tiny", revision=COMMIT_B)
    assert resolve(other).fingerprint()["source"] == {"id": "org/tiny", "revision": COMMIT_B}
    local, _ = load_model(tiny_dir)
    assert resolve(local).fingerprint()["source"] == {"path": str(tiny_dir.absolute())}


def test_source_records():
    snap = "/c/hub/models--Qwen--Qwen2.5-0.5B/snapshots/" + "a" * 40
    assert source_record(snap) == {"id": "Qwen/Qwen2.5-0.5B", "revision": "a" * 40}
    assert source_record("/c/hub/models--gpt2/snapshots/" + "a" * 40) == {"id": "gpt2", "revision": "a" * 40}
    assert source_record("Qwen/Qwen2.5-0.5B", "c" * 40) == {"id": "Qwen/Qwen2.5-0.5B", "revision": "c" * 40}
    assert source_record("Qwen/Qwen2.5-0.5B") == {"id": "Qwen/Qwen2.5-0.5B"}
    assert source_record("") is None and source_record(None) is None
    assert source_record("/some/folder") == {"path": "/some/folder"}
    assert describe({"id": "o/n", "revision": "a" * 40}) == "o/n@aaaaaaaaaaaa" and describe({"path": "/p"}) == "/p"
    assert same_source({"id": "o/n"}, {"id": "o/n", "revision": "a" * 40})  # an unknown revision matches
    assert not same_source({"id": "o/n", "revision": "a" * 40}, {"id": "o/n", "revision": "b" * 40})
    assert not same_source({"id": "o/n"}, {"path": "/p"})


def test_a_set_on_other_weights_of_its_shape_is_noted_and_another_shape_refused(hub_cache, one_thread):
    from kolang.models import load_model
    from kolang.neurons.neuronset import NeuronSet, fingerprint_of

    a = hub_cache.add("org/tiny")
    hub_cache.add("org/tiny", ref=None, commit=COMMIT_B, seed=1)
    hub_cache.add("org/wide", width=96)
    found_in, _ = load_model("org/tiny")
    ns = NeuronSet({0: [1, 2]}, fingerprint_of(found_in), method="contrast", target="ko")
    assert ns.check(found_in) is None
    other, _ = load_model("org/tiny", revision=COMMIT_B)
    with pytest.warns(KolangNote) as caught:
        note = ns.check(other)
    assert note == (f"the neuron set was found in org/tiny@{a.name[:12]} and is used on org/tiny@{'b' * 12}, other "
                    "weights of the same shape") and str(caught[0].message) == note
    old = NeuronSet({0: [1, 2]}, {k: v for k, v in ns.fingerprint.items() if k != "source"})  # written before sources
    assert old.check(other) is None and old == ns
    with pytest.raises(NeuronSetError, match="MLP width"):
        ns.check(load_model("org/wide")[0])


def test_a_resumed_run_refuses_the_weights_its_branch_moved_to(hub_cache, tmp_path, one_thread):
    from dataclasses import replace

    from kolang.data.io import write_jsonl
    from kolang.errors import RunDirError
    from kolang.tuning.config import TuneConfig
    from kolang.tuning.sft import tune

    a = hub_cache.add("org/tiny")
    data = write_jsonl(tmp_path / "sft.jsonl", [{"prompt": f"{i} 더하기 1은?", "completion": f"{i + 1}"}
                                                for i in range(4)])
    cfg = TuneConfig(model="org/tiny", data=str(data), out=str(tmp_path / "run"), adapter="lora", layers="0:1",
                     steps=2, batch_size=2, save_every=1)
    tune(cfg, stop_after=1)
    hub_cache.add("org/tiny", seed=1)  # main now names another commit of the same shape
    with pytest.raises(RunDirError, match=f"resume with --revision {a.name}"):
        tune(cfg, resume=True)
    assert tune(replace(cfg, revision=a.name), resume=True)["resumed_from"] == 1


# ---- the command line ----------------------------------------------------------------------------------------

def _discover(cli, out, *extra):
    return cli("discover", *extra, "--out", out, "--method", "contrast", "--per-layer", "3", "--max-texts", "20")


def test_discover_by_hub_id_offline_and_at_a_pinned_hash(hub_cache, cli, tmp_path, one_thread):
    a = hub_cache.add("org/tiny")
    hub_cache.add("org/tiny", ref=None, commit=COMMIT_B, seed=1)
    r = _discover(cli, tmp_path / "ns", "--model", "org/tiny")
    assert r.code == 0, r.err
    assert f"org/tiny@{a.name[:12]}" in r.lines[0]
    meta = json.loads((tmp_path / "ns" / "neurons.json").read_text())
    assert meta["fingerprint"]["source"] == {"id": "org/tiny", "revision": a.name}
    r = _discover(cli, tmp_path / "ns_b", "--model", "org/tiny", "--revision", COMMIT_B)
    assert r.code == 0, r.err
    assert json.loads((tmp_path / "ns_b" / "neurons.json").read_text())["fingerprint"]["source"]["revision"] == COMMIT_B


def test_validate_on_another_revision_prints_one_note(hub_cache, cli, tmp_path, one_thread):
    a = hub_cache.add("org/tiny")
    hub_cache.add("org/tiny", ref=None, commit=COMMIT_B, seed=1)
    assert _discover(cli, tmp_path / "ns", "--model", "org/tiny").code == 0
    r = cli("validate", "--model", "org/tiny", "--revision", COMMIT_B, "--neurons", tmp_path / "ns", "--out",
            tmp_path / "v", "--n-random", "1", "--max-texts", "10")
    assert r.code == 0, r.err
    notes = [ln for ln in r.lines if ln.startswith("kolang: note:")]
    assert notes == [f"kolang: note: the neuron set was found in org/tiny@{a.name[:12]} and is used on "
                     f"org/tiny@{'b' * 12}, other weights of the same shape"], r.err
    r = cli("validate", "--model", "org/tiny", "--neurons", tmp_path / "ns", "--out", tmp_path / "v2", "--n-random",
            "1", "--max-texts", "10")
    assert r.code == 0 and "note:" not in r.err, r.err


# ---- in a fresh process: the environment as a user sets it, and a Hub on localhost ---------------------------

def kolang(*argv: object, env: dict[str, str], timeout: float = 300) -> tuple[int, str, float]:
    """Run `python -m kolang` in a fresh interpreter (huggingface_hub reads HF_* when imported); (code, stderr, s)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "kolang", *map(str, argv)], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=timeout)
    return proc.returncode, proc.stderr, time.perf_counter() - start


def one_line(code: int, err: str, needle: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2 and "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("kolang: error:") and needle in lines[0], err
    return lines[0]


def test_a_missing_model_offline_is_one_line_within_5_s(hub_cache, tmp_path):
    code, err, seconds = kolang("discover", "--model", "org/absent", "--out", tmp_path / "ns",
                                env={"HF_HOME": str(hub_cache.home), "HF_HUB_OFFLINE": "1"})
    one_line(code, err, "HF_HUB_OFFLINE=1")
    assert seconds < 5, seconds


class FakeHub(ThreadingHTTPServer):
    """The Hub's file and tree endpoints on localhost, for the repos in `repos` ({repo: (commit, {name: bytes})});
    it answers as the Hub does: gated and unknown repos 401, unknown revisions and files 404, "org/slow" never."""

    daemon_threads = True

    def __init__(self, repos: dict[str, tuple[str, dict[str, bytes]]]):
        super().__init__(("127.0.0.1", 0), _HubHandler)
        self.repos = repos
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _HubHandler(BaseHTTPRequestHandler):
    server: FakeHub

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _send(self, status: int, headers: dict[str, str], data: bytes = b"", body: bool = True) -> None:
        self.send_response(status)
        for k, v in {"Content-Length": str(len(data)), **headers}.items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _answer(self, body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        self.server.requests.append(f"{self.command} {path}")
        m = re.match(r"^/(?:api/models/)?(?P<repo>[^/]+/[^/]+)/(?P<kind>resolve|tree|revision)/(?P<rev>[^/]+)/?"
                     r"(?P<file>.*)$", path)
        repo = m["repo"] if m else ""
        if repo == "org/slow":
            time.sleep(30)
        if repo == "org/gated":
            return self._send(401, {"X-Error-Code": "GatedRepo", "X-Error-Message": "Access to model org/gated is "
                                    "restricted. You must have access to it and be authenticated."}, body=body)
        if not m or repo not in self.server.repos:
            return self._send(401, {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"},
                              body=body)
        commit, files = self.server.repos[repo]
        if m["rev"] not in ("main", commit):
            return self._send(404, {"X-Error-Code": "RevisionNotFound", "X-Error-Message": "Invalid rev id"}, body=body)
        if m["kind"] in ("tree", "revision"):
            tree = [{"type": "file", "path": n, "size": len(d), "oid": hashlib.sha1(d).hexdigest()}
                    for n, d in files.items()]
            data = json.dumps(tree if m["kind"] == "tree" else {"id": repo, "sha": commit, "siblings": [
                {"rfilename": n} for n in files]}).encode()
            return self._send(200, {"Content-Type": "application/json"}, data, body)
        if m["file"] not in files:
            return self._send(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit}, body=body)
        data = files[m["file"]]
        self._send(200, {"X-Repo-Commit": commit, "ETag": f'"{hashlib.sha1(data).hexdigest()}"'}, data, body)


@pytest.fixture
def fake_hub(tmp_path):
    from kolang.tiny import save_tiny

    src = save_tiny(tmp_path / "served", "qwen2")
    server = FakeHub({"org/served": ("c" * 40, {f.name: f.read_bytes() for f in src.iterdir()})})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("model, endpoint, needle", [
    ("org/gated", "hub", "is gated and you are not logged in: run `hf auth login` or set HF_TOKEN"),
    ("org/absent", "hub", "the Hub has no model org/absent that you can see"),
    ("org/served@v9", "hub", "has no revision 'v9'"),
    ("org/absent", "closed", "cannot reach the Hugging Face Hub (ConnectError)"),
    ("org/slow", "hub", "cannot reach the Hugging Face Hub (ReadTimeout)"),
])
def test_the_hub_refusing_or_unreachable_is_one_line_within_seconds(fake_hub, hub_cache, tmp_path, model, endpoint,
                                                                       needle):
    url = fake_hub.url if endpoint == "hub" else f"http://127.0.0.1:{_closed_port()}"
    env = {"HF_HOME": str(hub_cache.home), "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": url, "HF_HUB_ETAG_TIMEOUT": "2",
           "HF_TOKEN": ""}
    code, err, seconds = kolang("discover", "--model", model, "--out", tmp_path / "ns", env=env)
    one_line(code, err, needle)
    assert seconds < 8, seconds  # a timeout of 2 s, and no retries
    assert not (tmp_path / "ns").exists()


def test_an_uncached_model_is_downloaded_into_the_cache(fake_hub, hub_cache, tmp_path):
    env = {"HF_HOME": str(hub_cache.home), "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": fake_hub.url, "HF_TOKEN": ""}
    code, err, _ = kolang("discover", "--model", "org/served", "--out", tmp_path / "ns", "--method", "contrast",
                          "--per-layer", "2", "--max-texts", "10", env=env)
    assert code == 0, err
    snapshot = hub_cache.cache / "models--org--served" / "snapshots" / ("c" * 40)
    assert sorted(p.name for p in snapshot.iterdir()) == sorted(p.name for p in (tmp_path / "served").iterdir())
    assert (hub_cache.cache / "models--org--served" / "refs" / "main").read_text() == "c" * 40
    meta = json.loads((tmp_path / "ns" / "neurons.json").read_text())
    assert meta["fingerprint"]["source"] == {"id": "org/served", "revision": "c" * 40}
    assert locate("org/served").folder == snapshot  # and then offline (this process), from the cache it filled
