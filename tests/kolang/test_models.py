"""Loading honours the tokenizer class a directory declares, and refuses what it cannot load in one line."""

import json

import pytest
import torch

from kolang.errors import ArchitectureError, ModelError
from kolang.models import check_encodes, load_model, load_tokenizer
from kolang.tiny import byte_tokenizer, save_tiny


def test_declared_custom_tokenizer_beside_a_qwen2_config_keeps_its_ids(tmp_path):
    path = save_tiny(tmp_path / "m", "qwen2")
    tok = load_tokenizer(path)
    text = "안녕하세요 hello 123"
    assert tok(text, add_special_tokens=False)["input_ids"] == byte_tokenizer()(text, add_special_tokens=False)["input_ids"]
    model, tok2 = load_model(path, dtype="fp32")
    assert next(model.parameters()).dtype == torch.float32 and not model.training
    assert tok2.pad_token is not None


def test_bf16_and_object_loading(tmp_path):
    path = save_tiny(tmp_path / "m", "llama")
    model, _ = load_model(path, dtype="bf16")
    assert next(model.parameters()).dtype == torch.bfloat16
    again, tok = load_model(model, tokenizer="t", dtype="fp32")
    assert again is model and tok == "t" and next(model.parameters()).dtype == torch.float32


def test_tokenizer_that_encodes_to_nothing_is_an_error():
    class Empty:
        def __call__(self, text, **kw):
            return {"input_ids": []}

    with pytest.raises(ModelError, match="no tokens"):
        check_encodes(Empty())


def test_bad_model_directories(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        load_model(tmp_path / "empty")
    moe = tmp_path / "moe"
    moe.mkdir()
    (moe / "config.json").write_text(json.dumps({"model_type": "mixtral"}))
    with pytest.raises(ArchitectureError, match="mixture-of-experts"):
        load_model(moe)
    with pytest.raises(ModelError, match="unknown dtype"):
        load_model(save_tiny(tmp_path / "ok", "qwen2"), dtype="fp8")
    bad = save_tiny(tmp_path / "badtok", "qwen2")
    (bad / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_tokenizer(bad)
