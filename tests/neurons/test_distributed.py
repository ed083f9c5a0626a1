"""Under torchrun (gloo, two CPU processes) each rank reads its shard and the sums equal one process's,
texts read one by one or packed into windows."""

import subprocess
import sys
import textwrap

import pytest
import torch

from kolang.neurons.stats import collect_stats
from kolang.tiny import byte_tokenizer, tiny_model

SCRIPT = textwrap.dedent('''
    import sys, torch, torch.distributed as dist
    from kolang.neurons.stats import collect_stats
    from kolang.tiny import byte_tokenizer, tiny_model
    sys.path.insert(0, sys.argv[2])
    from corpus import TEXTS, LANGS
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    st = collect_stats(tiny_model("qwen2"), byte_tokenizer(), TEXTS, LANGS, languages=["en", "ko"],
                       token_budget=128, keep_text_means=True)
    packed = collect_stats(tiny_model("qwen2"), byte_tokenizer(), TEXTS, LANGS, languages=["en", "ko"],
                           max_length=8, token_budget=16, pack=True)
    if dist.get_rank() == 0:
        torch.save({"texts": st.tensors(), "packed": packed.tensors()}, sys.argv[1])
    dist.barrier()
    dist.destroy_process_group()
''')

KO = ["안녕하세요", "오늘 날씨가 좋네요", "학교에 갑니다", "커피 주세요", "책을 읽어요", "밥을 먹었어요", "비가 와요"]
EN = ["hello", "nice weather today", "I go to school", "coffee please", "I read a book", "I ate rice"]


@pytest.mark.slow
def test_two_gloo_ranks_equal_one_process(tmp_path, free_port):
    (tmp_path / "corpus.py").write_text(f"TEXTS = {KO + EN!r}\nLANGS = {['ko'] * len(KO) + ['en'] * len(EN)!r}\n")
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    out = tmp_path / "stats.pt"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port}",
         str(script), str(out), str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    saved = torch.load(out)
    texts, langs = KO + EN, ["ko"] * len(KO) + ["en"] * len(EN)
    single = collect_stats(tiny_model("qwen2"), byte_tokenizer(), texts, langs,
                           languages=["en", "ko"], token_budget=128, keep_text_means=True).tensors()
    dist_t = saved["texts"]
    for key in ("tokens", "texts", "active", "text_langs"):
        assert torch.equal(dist_t[key], single[key]), key
    # Values come from float32 forwards of differently padded batches: equal to float32 rounding.
    for key in ("sum", "sumsq", "text_means"):
        torch.testing.assert_close(dist_t[key], single[key], atol=1e-6, rtol=1e-5)
    # Packed, the ranks split the windows (not the texts), so the windows are the ones a single process reads.
    packed = collect_stats(tiny_model("qwen2"), byte_tokenizer(), texts, langs, languages=["en", "ko"],
                           max_length=8, token_budget=16, pack=True).tensors()
    for key in ("tokens", "texts", "active"):
        assert torch.equal(saved["packed"][key], packed[key]), key
    torch.testing.assert_close(saved["packed"]["sum"], packed["sum"], atol=1e-6, rtol=1e-5)
