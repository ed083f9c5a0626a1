"""An optional model judge that gates or calibrates rule rewards.

Rule rewards miss right answers in unexpected forms and reward wrong reasoning that lands on the
right number; a judge model reads prompt and completion and says how likely the completion is
good (the "oracle judge" used to train Qwen3's Korean reasoning, in spirit). Two kinds:
- `classifier`: a sequence-classification reward model; its score is sigmoid(logit) for one
  label, else the softmax probability of the last label.
- `lm`: a causal LM asked a yes/no question; its score is p(yes) / (p(yes) + p(no)) from the
  next-token logits (the "LLM-as-judge by token probability" recipe of G-Eval, Liu et al. 2023).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import transformers

from kolang.errors import ConfigError
from kolang.models import load_model, load_tokenizer, pick_device
from kolang.rl.rewards import RewardFn, checked, completion_text, reward_name

LM_QUESTION = (
    "Question:\n{prompt}\n\nAnswer:\n{completion}\n\n"
    "Is the answer correct and reasoned in the language of the question? Reply yes or no.\nReply:"
)


def _prompt_text(prompt: Any) -> str:
    return prompt if isinstance(prompt, str) else completion_text([m for m in prompt if m.get("role") == "user"] or prompt)


class JudgeReward:
    """Scores completions with a judge model, alone or acting on another reward.

    `mode`: "score" returns the judge's probability; "gate" returns `base` where the judge's
    probability reaches `threshold`, else 0; "calibrate" returns `base` times the probability.
    """

    __name__ = "judge"

    def __init__(self, model: Any, tokenizer: Any, kind: str = "lm", mode: str = "score", base: RewardFn | None = None,
                 threshold: float = 0.5, question: str = LM_QUESTION, yes: str = " yes", no: str = " no",
                 batch_size: int = 8, max_length: int = 1024) -> None:
        if kind not in ("lm", "classifier"):
            raise ConfigError(f"judge kind must be lm or classifier, not '{kind}'")
        if mode not in ("score", "gate", "calibrate"):
            raise ConfigError(f"judge mode must be score, gate or calibrate, not '{mode}'")
        if mode != "score" and base is None:
            raise ConfigError(f"judge mode '{mode}' acts on another reward; pass base=")
        self.model, self.tok, self.kind, self.mode, self.base = model, tokenizer, kind, mode, base
        self.threshold, self.question, self.batch_size, self.max_length = threshold, question, batch_size, max_length
        if kind == "lm":
            # the first token must tell the answers apart; a byte-level tokenizer without merges
            # splits " yes" into " ", "y", … so the words without their leading space are tried next
            for y, n in ((yes, no), (yes.strip(), no.strip())):
                ids_yes = tokenizer(y, add_special_tokens=False)["input_ids"]
                ids_no = tokenizer(n, add_special_tokens=False)["input_ids"]
                if ids_yes and ids_no and ids_yes[0] != ids_no[0]:
                    break
            else:
                raise ConfigError(f"the judge tokenizer cannot tell {yes!r} from {no!r} by their first token")
            self.yes_id, self.no_id = ids_yes[0], ids_no[0]
        if mode != "score":
            self.__name__ = f"judge_{mode}_{reward_name(base)}"

    @torch.no_grad()
    def probabilities(self, prompts: Sequence, completions: Sequence) -> list[float]:
        """The judge's probability that each completion is good, in [0, 1]."""
        texts = [self.question.format(prompt=_prompt_text(p), completion=completion_text(c))
                 for p, c in zip(prompts, completions)]
        device = next(self.model.parameters()).device
        out: list[float] = []
        side = self.tok.padding_side
        self.tok.padding_side = "left"  # the next-token logit is then at position -1 for every row
        try:
            for i in range(0, len(texts), self.batch_size):
                enc = self.tok(texts[i: i + self.batch_size], return_tensors="pt", padding=True, truncation=True,
                               max_length=self.max_length).to(device)
                logits = self.model(**enc).logits.float()
                if self.kind == "lm":
                    last = logits[:, -1, :]  # (B, V)
                    pair = torch.stack([last[:, self.yes_id], last[:, self.no_id]], dim=1)  # (B, 2)
                    p = pair.softmax(dim=1)[:, 0]
                elif logits.shape[-1] == 1:
                    p = logits[:, 0].sigmoid()
                else:
                    p = logits.softmax(dim=-1)[:, -1]
                out.extend(p.tolist())
        finally:
            self.tok.padding_side = side
        return out

    def __call__(self, prompts: Sequence, completions: Sequence, **columns: Any) -> list[float]:
        p = checked("judge", self.probabilities(prompts, completions), len(completions))
        if self.mode == "score":
            return p
        base = checked(reward_name(self.base), self.base(prompts=prompts, completions=completions, **columns), len(completions))
        if self.mode == "gate":
            return [b if q >= self.threshold else 0.0 for b, q in zip(base, p)]
        return [b * q for b, q in zip(base, p)]


def load_judge(path: str, kind: str, mode: str, base: RewardFn | None, device: Any = None, dtype: Any = None) -> JudgeReward:
    """A `JudgeReward` from a local model directory."""

    if kind == "lm":
        model, tok = load_model(path, dtype=dtype or "auto", device=device)
    else:
        try:
            model = transformers.AutoModelForSequenceClassification.from_pretrained(str(path))
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot load the judge classifier in {path}: {e}") from e
        model = model.to(pick_device(device) if device is None else device).eval()
        tok = load_tokenizer(path)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
    model.requires_grad_(False)
    return JudgeReward(model, tok, kind=kind, mode=mode, base=base)
