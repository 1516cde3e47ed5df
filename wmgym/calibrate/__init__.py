"""Where truth and dream meet: paired rollouts, metrics against MuJoCo, trust horizon, reports.

`calibrate` measures a model (`wmgym calibrate --model reacher --out DIR`); `improve` runs active
calibration rounds (`--improve ROUNDS`). The metrics import nothing heavy (the trainer uses them);
the rest loads on first use.
"""

from wmgym.calibrate.metrics import MAX_PSNR, psnr, ssim

_LAZY = {
    "CalibrationConfig": "wmgym.calibrate.run",
    "calibrate": "wmgym.calibrate.run",
    "improve": "wmgym.calibrate.active",
    "paired_rollout": "wmgym.calibrate.paired",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'wmgym.calibrate' has no attribute {name!r}")


__all__ = ["MAX_PSNR", "CalibrationConfig", "calibrate", "improve", "paired_rollout", "psnr", "ssim"]
