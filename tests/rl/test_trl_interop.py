"""kolang's reward callables run unchanged inside `trl.GRPOTrainer` (one step on a tiny model)."""

from __future__ import annotations

import pytest


def test_rewards_inside_trl_grpo(tmp_path):
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    from kolang.rl.rewards import AccuracyReward, FormatReward, LanguageConsistencyReward
    from kolang.tiny import byte_tokenizer, tiny_model

    calls: dict[str, int] = {}

    def counted(fn):
        def wrapper(prompts, completions, **kw):
            out = fn(prompts, completions, **kw)
            calls[fn.__name__] = calls.get(fn.__name__, 0) + 1
            assert len(out) == len(completions) and all(isinstance(x, float) for x in out)
            assert "answer" in kw and "lang" in kw  # TRL passes the dataset columns through
            return out

        wrapper.__name__ = fn.__name__
        return wrapper

    rewards = [AccuracyReward(), LanguageConsistencyReward("ko", min_letters=1), FormatReward()]
    ds = datasets.Dataset.from_list([{"prompt": f"{a} 더하기 1은?", "answer": str(a + 1), "lang": "ko"} for a in range(4)])
    args = trl.GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, num_generations=2,
                          max_completion_length=8, max_steps=1, report_to=[], use_cpu=True, logging_steps=1,
                          save_strategy="no", bf16=False, dataloader_num_workers=0, seed=0)
    tok = byte_tokenizer()
    trainer = trl.GRPOTrainer(model=tiny_model("qwen2"), reward_funcs=[counted(r) for r in rewards], args=args,
                              train_dataset=ds, processing_class=tok)
    trainer.train()
    assert calls == {"accuracy": 1, "language": 1, "format": 1}
    logged = {k for entry in trainer.state.log_history for k in entry}
    assert {"rewards/accuracy/mean", "rewards/language/mean", "rewards/format/mean"} <= logged
