"""The tiny training settings the training tests share (a debug model, a few steps)."""

from wmgym.train import TrainConfig

TINY = dict(
    preset="debug",
    batch_size=2,
    seq_len=8,
    eval_every=4,
    checkpoint_every=2,
    log_every=1,
    heldout_fraction=0.25,
    eval_horizon=5,
    device="cpu",
    # constant: the tests that extend a run's budget on resume compare it with a straight run, which
    # only a constant lr makes equal (a decay's end depends on the budget; test_lr_schedule covers it)
    lr_decay=0.0,
    # explicit: on a CPU with native bf16, "auto" times its first steps in both precisions and trains on
    # in the faster (test_train covers it), which a bit-exact comparison of two runs cannot allow
    precision="fp32",
)


def tiny_config(**changes) -> TrainConfig:
    """`TINY` with ``changes``."""
    return TrainConfig(**{**TINY, **changes})
