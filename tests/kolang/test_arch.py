import pytest
import torch

from kolang.arch import resolve, spec_for, supported_families
from kolang.errors import ArchitectureError
from kolang.tiny import TINY_FAMILIES, tiny_model


def test_every_required_family_is_mapped():
    fams = set(supported_families())
    for f in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma3", "phi3", "gpt2", "gpt_neox", "olmo"):
        assert f in fams


def test_unknown_architecture_names_supported_families():
    with pytest.raises(ArchitectureError, match="supported families: .*llama"):
        spec_for("bert")


@pytest.mark.parametrize("moe", ["mixtral", "qwen3_moe"])
def test_moe_is_refused_clearly(moe):
    with pytest.raises(ArchitectureError, match="mixture-of-experts"):
        spec_for(moe)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_neuron_slices_address_width_neurons(family):
    model = tiny_model(family, width=48)
    mm = resolve(model)
    assert mm.width == 48 and mm.num_layers == 2
    slices = mm.neuron_slices(0)
    assert any(dim == 0 or dim == 1 for _, _, dim, _ in slices)
    for name, param, dim, offset in slices:
        assert param.shape[dim] >= offset + mm.width, name
    fp = mm.fingerprint()
    assert fp["num_layers"] == 2 and fp["mlp_width"] == 48 and fp["hidden_size"] == 32


def test_zeroing_a_neurons_slices_silences_it():
    # The slices define the neuron: zero every slice of neuron 5 and its value must vanish everywhere.
    from kolang.neurons.hooks import capture_mlp

    for family in ("qwen2", "phi3", "gpt2", "gpt_neox"):
        model = tiny_model(family)
        mm = resolve(model)
        with torch.no_grad():
            for _, p, dim, off in mm.neuron_slices(0):
                p.narrow(dim, off + 5, 1).zero_()
        got = {}
        with capture_mlp(mm, lambda layer, v, a: got.setdefault(layer, v.clone()), layers=[0]):
            model(torch.randint(0, 200, (1, 7)))
        # ungated with biases: act(0) may be nonzero only through a bias, which is zeroed too
        assert torch.all(got[0][..., 5] == 0), family

