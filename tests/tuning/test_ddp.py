"""The neuron adapter inside TRL under DDP: two gloo ranks on the CPU (torchrun, HF/TRL's own DDP) end where
one process with the same global batch ends, and the saved adapter loads with `PeftModel.from_pretrained`."""

import subprocess
import sys
import textwrap

import pytest
import torch

STEPS, GLOBAL_BATCH = 3, 4
NEURONS = {0: [3, 17, 40], 1: [0, 63]}

SCRIPT = textwrap.dedent(f'''
    import os, sys, torch, datasets, trl
    from kolang.tiny import byte_tokenizer, tiny_model
    from kolang.tuning.adapter import NeuronConfig
    torch.set_num_threads(1)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    ds = datasets.Dataset.from_list([{{"text": f"{{a}} 더하기 {{b}}는 {{a + b}}입니다."}} for a in range(4) for b in range(3)])
    # sequential: both runs read the same texts in the same global batches; SGD: a step is the gradient
    # itself (Adam's first steps are sign-like, so a gradient that is 0 up to rounding could go either way)
    args = trl.SFTConfig(output_dir=sys.argv[1], per_device_train_batch_size={GLOBAL_BATCH} // world,
                         max_steps={STEPS}, learning_rate=0.5, optim="sgd", lr_scheduler_type="constant",
                         max_length=32, report_to=[], use_cpu=True, ddp_backend="gloo" if world > 1 else None, save_strategy="no",
                         train_sampling_strategy="sequential", dataloader_num_workers=0, seed=0,
                         disable_tqdm=True, logging_strategy="no")
    trainer = trl.SFTTrainer(model=tiny_model("qwen2"), args=args, train_dataset=ds, processing_class=byte_tokenizer(),
                             peft_config=NeuronConfig.from_neurons({NEURONS!r}))
    trainer.train()
    trainer.save_model(sys.argv[1] + "/adapter")
    if trainer.accelerator.is_main_process:
        torch.save({{n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}},
                   sys.argv[1] + "/trained.pt")
''')


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
def test_two_ddp_ranks_equal_one_process_and_the_adapter_reloads(tmp_path, free_port):
    from peft import PeftModel

    from kolang.tiny import tiny_model
    from kolang.tuning.adapter import register

    script = tmp_path / "sft.py"
    script.write_text(SCRIPT)
    one, two = tmp_path / "one", tmp_path / "two"
    _run([sys.executable, str(script), str(one)])
    _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port}",
          str(script), str(two)])
    single, ddp = torch.load(one / "trained.pt"), torch.load(two / "trained.pt")
    assert single.keys() == ddp.keys() and all("sparse_neuron_weight" in k for k in single)
    for name, w in single.items():
        assert w.abs().sum() > 0, f"{name} did not train"
        torch.testing.assert_close(ddp[name], w, rtol=0, atol=1e-5, msg=lambda m: f"{name}: {m}")
    register()
    loaded = PeftModel.from_pretrained(tiny_model("qwen2"), str(two / "adapter"))
    got = {n: p for n, p in loaded.named_parameters() if "sparse_neuron_weight" in n}
    assert got.keys() == ddp.keys()
    for name, w in ddp.items():
        assert torch.equal(got[name], w), name
