"""Learning tests: slow, kept out of the quick run (``python -m pytest -m slow``)."""

import pytest

from wmgym.data import collect
from wmgym.train import TrainConfig, train


@pytest.mark.slow
def test_world_model_learns_reacher_frames(tmp_path):
    """300 debug-preset steps on real Reacher frames cut the frame loss by at least 40%."""
    collect("reacher", 30, tmp_path / "data", policy="ou-noise", workers=2, progress=False)
    cfg = TrainConfig(
        preset="debug",
        steps=300,
        batch_size=8,
        seq_len=16,
        log_every=10,
        eval_every=300,
        heldout_fraction=0.1,
        device="cpu",
    )
    train([tmp_path / "data"], tmp_path / "run", cfg, progress=False)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    image = [e.value for e in events.Scalars("train/image")]
    assert sum(image[-3:]) / 3 < 0.6 * sum(image[:3]) / 3, image
