"""The experiment's arm names and paired comparisons agree: a comparison naming an arm that does not exist would be
dropped silently (a comparison runs only when both its arms are in the experiment)."""

from kolang.pipeline.config import ARMS, BASELINE_ARM, COMPARISONS, SWEEP_METHOD, ExperimentConfig


def test_every_comparison_and_default_names_real_arms():
    assert BASELINE_ARM in ARMS and SWEEP_METHOD in ARMS
    for name, (arm, versus) in COMPARISONS.items():
        assert arm in ARMS and versus in ARMS and arm != versus, name
    cfg = ExperimentConfig()
    assert set(cfg.arms) <= set(ARMS) and set(cfg.sweep_arms) <= set(ARMS)
    assert all(a in cfg.arms and b in cfg.arms for a, b in COMPARISONS.values())  # the default runs every one
