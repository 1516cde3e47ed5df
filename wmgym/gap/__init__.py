"""Sim-to-real: perturbed MuJoCo robots stand in for the real one; `gap` measures how policies trained
in MuJoCo, in the dream and in the dream adapted to the robot fare there, and how well each dream
ranks them (``wmgym gap``); `adapt` fine-tunes a world model on a few of the robot's episodes
(``wmgym adapt``). The robots themselves are `wmgym.truth.perturb` and `wmgym.truth.variants`.

Where truth, dream, training and calibration meet, like `wmgym.calibrate`; names load on first use.
"""

from wmgym._lazy import lazy_names

_PUBLIC = {
    "AdaptConfig": "wmgym.gap.adaptation",
    "GapConfig": "wmgym.gap.run",
    "adapt": "wmgym.gap.adaptation",
    "gap": "wmgym.gap.run",
}

__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)

__all__ = sorted(_PUBLIC)
