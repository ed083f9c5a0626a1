"""The nnsight backend: the reduction inside a trace, the remote path's dry run, and clear refusals."""

import copy
import warnings

import pytest
import torch

from kolang.errors import ConfigError
from kolang.neurons.stats import collect_stats
from kolang.tiny import tiny_model

TEXTS = ["안녕하세요 반갑습니다", "오늘은 날씨가 좋네요", "hello there my friend", "the weather is nice"]
LANGS = ["ko", "ko", "en", "en"]


@pytest.fixture(autouse=True)
def _quiet():
    warnings.filterwarnings("ignore")


def test_remote_dry_run_ships_only_the_block_and_equals_the_hooks(byte_tok):
    """nnsight's `remote="local"` serialises the trace as NDIF would and rebuilds it with kolang hidden:
    the block must travel (torch, `fold` by value, the masks), and the sums come back unchanged."""
    model = tiny_model("qwen2", layers=3)
    hooks = collect_stats(model, byte_tok, TEXTS, LANGS, layers="0:2", keep_text_means=True)
    dry = collect_stats(model, copy.deepcopy(byte_tok), TEXTS, LANGS, layers="0:2", keep_text_means=True,
                        backend="nnsight", remote="local")
    for key in ("tokens", "active", "sum", "sumsq", "text_means"):
        assert torch.equal(getattr(dry, key), getattr(hooks, key)), key
    assert dry.layers == [0, 1]


def test_takes_an_nnsight_model_and_stops_after_the_last_layer(byte_tok):
    from kolang.neurons.nnsight_backend import wrap

    model = tiny_model("qwen2", layers=3)
    lm = wrap(model, copy.deepcopy(byte_tok))
    ran = []
    model.lm_head.register_forward_hook(lambda *_: ran.append("head"))
    model.model.layers[1].register_forward_pre_hook(lambda *_: ran.append("layer 1"))
    st = collect_stats(lm, byte_tok, TEXTS, LANGS, layers=[0], backend="nnsight")
    assert not ran and st.layers == [0]
    assert torch.equal(st.active[0], collect_stats(model, byte_tok, TEXTS, LANGS, layers=[0]).active[0])


def test_remote_without_an_api_key_is_refused(byte_tok, monkeypatch):
    import nnsight

    monkeypatch.delenv("NDIF_API_KEY", raising=False)
    monkeypatch.setattr(nnsight.CONFIG.API, "APIKEY", None)
    with pytest.raises(ConfigError, match="NDIF_API_KEY"):
        collect_stats(tiny_model("qwen2"), byte_tok, TEXTS, LANGS, backend="nnsight", remote=True)
    monkeypatch.setenv("NDIF_API_KEY", "not-a-key")  # a key, but a model NDIF cannot name
    with pytest.raises(ConfigError, match="Hub id"):
        collect_stats(tiny_model("qwen2"), byte_tok, TEXTS, LANGS, backend="nnsight", remote=True)


@pytest.mark.parametrize("kw,match", [({"remote": True}, "backend='nnsight'"), ({"backend": "vllm"}, "unknown")])
def test_bad_backend_options(kw, match, byte_tok):
    with pytest.raises(ConfigError, match=match):
        collect_stats(tiny_model("qwen2"), byte_tok, TEXTS, LANGS, **kw)
