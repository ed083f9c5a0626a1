"""Logit lens: decode every layer's residual stream through the final norm and unembedding.

nostalgebraist's logit lens (2020) reads what a model would predict if it stopped after layer l.
Wendler et al. ("Do Llamas Work in English?", ACL 2024) use it on non-English prompts to show the
intermediate predictions passing through English before the output language appears; here we
measure, layer by layer, which script (Hangul or Latin) the decoded top-k next tokens are written
in, and how much probability the lens puts on each script over the whole vocabulary.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from kolang.analysis.language import script_counts
from kolang.arch import resolve
from kolang.data.chat import format_prompt
from kolang.data.tasks import generate
from kolang.errors import ArchitectureError, DataError

CLASSES = ("hangul", "latin", "other")  # the script class of a decoded token
# Lead bytes of UTF-8 sequences that start a Hangul character: U+1100-11FF (E1 84-87), compatibility
# jamo U+3130-318F (E3 84-86), syllables U+AC00-D7A3 (EA-ED). A byte-level BPE token that holds
# only part of a syllable decodes to U+FFFD; its bytes still say which script it belongs to.
_HANGUL_LEADS = {0xEA, 0xEB, 0xEC, 0xED}
_BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")  # SentencePiece byte-fallback pieces


def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's byte -> printable character table (byte-level BPE token strings)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def _raw_bytes(tokenizer: Any, token_id: int, table: dict[str, int]) -> bytes | None:
    piece = tokenizer.convert_ids_to_tokens(int(token_id))
    if not isinstance(piece, str):
        return None
    m = _BYTE_FALLBACK.match(piece)
    if m:
        return bytes([int(m.group(1), 16)])
    if piece and all(ch in table for ch in piece):
        return bytes(table[ch] for ch in piece)
    return None


def _class_of_bytes(raw: bytes) -> str:
    for i, b in enumerate(raw):
        nxt = raw[i + 1] if i + 1 < len(raw) else None
        if b in _HANGUL_LEADS or (b == 0xE1 and nxt in (None, 0x84, 0x85, 0x86, 0x87)) or (b == 0xE3 and nxt in (0x84, 0x85, 0x86)):
            return "hangul"
    return "other"


def token_classes(tokenizer: Any, vocab_size: int) -> torch.Tensor:
    """(vocab_size,) int64: the script class of every token id (index into `CLASSES`).

    A token is Hangul or Latin by the majority of its letters (`script_counts`); a token with no
    letters is "other", unless it is a fragment of a UTF-8 Hangul character.
    """
    table = _byte_decoder()
    out = torch.full((vocab_size,), CLASSES.index("other"), dtype=torch.long)
    n = min(vocab_size, len(tokenizer))
    texts = tokenizer.batch_decode([[i] for i in range(n)])
    for i, text in enumerate(texts):
        c = script_counts(text)
        if c["hangul"] or c["latin"]:
            out[i] = CLASSES.index("hangul" if c["hangul"] > c["latin"] else "latin")
        elif "\ufffd" in text:
            raw = _raw_bytes(tokenizer, i, table)
            if raw is not None:
                out[i] = CLASSES.index(_class_of_bytes(raw))
    return out


def final_norm(model: nn.Module) -> nn.Module:
    """The norm applied to the last residual stream before the unembedding, found generically."""
    base = getattr(model, "base_model", model)
    for owner in (base, getattr(base, "decoder", None), model):
        if owner is None:
            continue
        for name in ("norm", "ln_f", "final_layer_norm", "final_layernorm"):
            mod = getattr(owner, name, None)
            if isinstance(mod, nn.Module):
                return mod
    raise ArchitectureError(f"{type(model).__name__} has no final norm named norm, ln_f or final_layer_norm")


def _residuals(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> list[torch.Tensor]:
    """Each block's output residual stream, (batch, seq, hidden) per layer, from one forward."""
    mm = resolve(model)
    resid: dict[int, torch.Tensor] = {}
    handles = []
    for layer in range(mm.num_layers):
        def keep(_mod, _inp, out, layer=layer):
            resid[layer] = out[0] if isinstance(out, tuple) else out

        handles.append(mm.block(layer).register_forward_hook(keep))
    try:
        model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return [resid[layer] for layer in range(mm.num_layers)]


def _decoder(model: nn.Module):
    norm, unembed = final_norm(model), model.get_output_embeddings()
    if unembed is None:
        raise ArchitectureError(f"{type(model).__name__} has no output embeddings to decode with")
    # The last block's output is exactly what the model itself normalises and unembeds.
    return lambda h: unembed(norm(h)).float()


@torch.no_grad()
def lens_logits(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                select: torch.Tensor | None = None) -> torch.Tensor:
    """(layers, N, vocab) float32: final norm + unembedding applied to each block's output.

    `select` is a (batch, seq) bool mask of the N positions to decode (default: every position).
    The last layer's rows equal the model's own logits.
    """
    decode = _decoder(model)
    resid = _residuals(model, input_ids, attention_mask)
    if select is None:
        select = torch.ones(input_ids.shape, dtype=torch.bool, device=input_ids.device)
    return torch.stack([decode(h[select]) for h in resid])


@torch.no_grad()
def logit_lens(model: nn.Module, tokenizer: Any, prompts: Sequence[str], k: int = 10, *, positions: str = "last",
               examples: int = 4, max_length: int = 256, batch_size: int = 8) -> dict[str, Any]:
    """Per layer, the script of the lens's top-`k` next tokens and its probability mass on each script.

    `positions` is "last" (the next token after each prompt) or "all" (every real position).
    Returns a JSON-ready dict: `layers` (one entry a layer with `top_share` and `prob_mass` by
    class, and `hangul_vs_latin` = Hangul / (Hangul + Latin) among the top-k tokens) and, for the
    first `examples` prompts, the top-k decoded tokens at the last position by layer.
    """
    if not prompts:
        raise DataError("logit lens: no prompts given")
    if int(k) < 1:
        raise DataError(f"logit lens: k must be at least 1, got {k}")
    if positions not in ("last", "all"):
        raise DataError(f"positions must be 'last' or 'all', not {positions!r}")
    device = next(model.parameters()).device
    vocab = model.get_output_embeddings().weight.shape[0]
    k = min(int(k), vocab)
    classes = token_classes(tokenizer, vocab).to(device)  # (V,)
    onehot = torch.nn.functional.one_hot(classes, len(CLASSES)).float()  # (V, C)
    decode = _decoder(model)
    L = resolve(model).num_layers
    top_counts = torch.zeros(L, len(CLASSES))
    mass = torch.zeros(L, len(CLASSES))
    n_pos = 0
    shown: list[dict[str, Any]] = []
    side = tokenizer.padding_side
    tokenizer.padding_side = "right"  # real tokens keep positions 0..n-1 in every row
    try:
        for start in range(0, len(prompts), batch_size):
            batch = list(prompts[start:start + batch_size])
            enc = tokenizer(batch, return_tensors="pt", padding=True, truncation=True, max_length=max_length)
            ids, attn = enc["input_ids"].to(device), enc["attention_mask"].to(device)
            last = attn.sum(1) - 1  # (B,)
            sel = torch.zeros_like(attn, dtype=torch.bool)
            sel[torch.arange(ids.shape[0]), last] = True
            if positions == "all":
                sel = attn.bool()
            n_show = min(ids.shape[0], examples - len(shown))
            rows = [{"prompt": batch[b], "layers": []} for b in range(n_show)]
            for layer, h in enumerate(_residuals(model, ids, attn)):  # h: (B, T, hidden)
                logits = decode(h[sel])  # (N, V), decoded one layer at a time to bound memory
                top = logits.topk(k, dim=-1).indices  # (N, k)
                top_counts[layer] += onehot[top].sum(dim=(0, 1)).cpu()
                mass[layer] += (logits.softmax(-1) @ onehot).sum(0).cpu()
                if n_show:
                    p, idx = decode(h[torch.arange(n_show), last[:n_show]]).softmax(-1).topk(k, dim=-1)  # (n_show, k)
                    for b in range(n_show):
                        rows[b]["layers"].append({
                            "tokens": tokenizer.batch_decode([[int(i)] for i in idx[b]]),
                            "probs": [round(float(x), 5) for x in p[b]],
                            "classes": [CLASSES[int(classes[i])] for i in idx[b]]})
            shown += rows
            n_pos += int(sel.sum())
    finally:
        tokenizer.padding_side = side
    layers = []
    for layer in range(L):
        share = top_counts[layer] / top_counts[layer].sum().clamp(min=1)
        h, lat = float(top_counts[layer, 0]), float(top_counts[layer, 1])
        layers.append({
            "layer": layer,
            "top_share": {c: float(share[i]) for i, c in enumerate(CLASSES)},
            "prob_mass": {c: float(mass[layer, i]) / max(n_pos, 1) for i, c in enumerate(CLASSES)},
            "hangul_vs_latin": h / (h + lat) if h + lat > 0 else None,
        })
    return {"k": k, "positions": positions, "n_prompts": len(prompts), "n_positions": n_pos,
            "layers": layers, "examples": shown}


def korean_prompts(tokenizer: Any, n: int = 16, seed: int = 0) -> list[str]:
    """`n` bundled Korean word problems, chat-formatted for `tokenizer` (what the organism is asked)."""

    return [format_prompt(tokenizer, p.question["ko"]) for p in generate(n, seed)]


