"""Models named as `from_pretrained` names them: local folders, and hub ids read from a Hugging Face cache laid
out as huggingface_hub writes it (offline, or with the Hub unreachable)."""

from __future__ import annotations

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
