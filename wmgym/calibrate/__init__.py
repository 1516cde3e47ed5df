"""Where truth and dream meet: metrics of predictions against MuJoCo."""

from wmgym.calibrate.metrics import MAX_PSNR, psnr

__all__ = ["MAX_PSNR", "psnr"]
