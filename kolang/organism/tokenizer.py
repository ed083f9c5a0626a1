"""The organism's tokenizer: byte-level BPE trained on its own corpus, with a ChatML chat template."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>")
EOS, PAD = "<|im_end|>", "<|pad|>"
# ChatML, as Qwen2 chat models use, so prompts are built the same way for the organism and real models;
# optionally with a reasoning model's thought format, so the organism runs the paths a Qwen3 or R1-distill
# model takes: "qwen3" honours `enable_thinking` (false writes an empty, closed block into the
# prompt, as Qwen3's template does), "r1" pre-fills the opening `<think>` as DeepSeek-R1 distills do.
_GENERATION = {
    "none": "<|im_start|>assistant\n",
    "qwen3": "<|im_start|>assistant\n{% if enable_thinking is defined and enable_thinking is false %}"
             "<think>\n\n</think>\n\n{% endif %}",
    "r1": "<|im_start|>assistant\n<think>\n",
}
THOUGHT_FORMATS = tuple(_GENERATION)


def chat_template(thought: str = "none") -> str:
    """The organism's ChatML template with thought format `thought` (one of `THOUGHT_FORMATS`)."""
    if thought not in _GENERATION:
        raise ValueError(f"unknown thought format '{thought}'; use one of {', '.join(THOUGHT_FORMATS)}")
    return ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}" + _GENERATION[thought] + "{% endif %}")


CHAT_TEMPLATE = chat_template()


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> transformers.PreTrainedTokenizerFast:
    """Train a byte-level BPE of `vocab_size` ids on `texts`; digits are always single tokens.

    Splitting digits keeps every number's spelling aligned with its value, which small models need
    to learn arithmetic (the LLaMA tokenizer and Qwen2's do the same).
    """

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(texts), trainer=trainer)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD, bos_token=None,
                                                unk_token=None)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def save_tokenizer(tokenizer: transformers.PreTrainedTokenizerFast, path: str | Path) -> None:
    """Save as a plain HF tokenizer that declares its class, so `kolang.models.load_tokenizer` reloads it
    as is (a Qwen2 `config.json` beside it would otherwise pull in Qwen2's own tokenizer class)."""
    path = Path(path)
    tokenizer.save_pretrained(str(path))
    cfg_file = path / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg.setdefault("chat_template", CHAT_TEMPLATE)
    cfg_file.write_text(json.dumps(cfg, indent=2, ensure_ascii=False), encoding="utf-8")
