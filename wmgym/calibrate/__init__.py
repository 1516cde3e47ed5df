"""Where truth and dream meet: paired rollouts, metrics against MuJoCo, trust horizon, reports.

`calibrate` measures a model (`wmgym calibrate --model reacher --out DIR`); `improve` runs active
calibration rounds (`wmgym improve`): collect where the model errs, fine-tune, measure again.
"""

from wmgym.calibrate.active import improve
from wmgym.calibrate.paired import paired_rollout
from wmgym.calibrate.run import CalibrationConfig, calibrate

__all__ = ["CalibrationConfig", "calibrate", "improve", "paired_rollout"]
