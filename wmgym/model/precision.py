"""What this machine can run: the torch device a name means, and the autocast precision ``auto`` picks.

bf16 autocast is fast only where the hardware does bf16 arithmetic: on CUDA GPUs that support it,
and on CPUs with AVX512-BF16 or AMX-BF16. On an AVX2-only CPU torch emulates it and a training step
runs 5-14x slower than in fp32, so ``auto`` picks fp32 there; on a CPU that has it, only for batches
of at least `CPU_BF16_MIN_BATCH` rows (below, fp32 was as fast or faster). A CPU training run goes
further and settles it by the clock (`PrecisionProbe`), since the flags do not tell whether bf16 pays at
a given model's sizes. Shared by training and the dream side.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from wmgym.errors import DeviceError

PRECISIONS = ("auto", "bf16", "fp32")
CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""/proc/cpuinfo flags of CPUs that compute in bf16 natively (Cooper Lake, Sapphire Rapids, Zen 4+)."""
CPU_BF16_MIN_BATCH = 256
"""On a CPU with native bf16, the fewest rows per call for which ``auto`` picks it: on an AMD EPYC with
AVX512-BF16 (benchmarks/results/dream_throughput.md, 2026-12-02) the reacher dream in bf16 ran 0.74x
fp32's steps/s at batch 1, 0.99x at 64, 1.36x at 256 and 1.32x at 1,024 (state), 1.78x at 256
(pixels); a training step (32x16 windows) 1.6x for the dynamics."""


def choose_precision(
    device_type: str, cpu_flags: Iterable[str], cuda_bf16_supported: bool, batch: int | None = None
) -> str:
    """``"bf16"`` where the hardware computes in bf16 natively and it pays, else ``"fp32"`` (pure: no probing).

    Args:
        device_type: ``torch.device.type``: ``"cuda"``, ``"cpu"``, ...
        cpu_flags: the CPU's flags (as in /proc/cpuinfo); used for ``"cpu"``.
        cuda_bf16_supported: ``torch.cuda.is_bf16_supported()``; used for ``"cuda"``.
        batch: rows per call (a dream's envs); on a CPU, below `CPU_BF16_MIN_BATCH` fp32 is as fast or
            faster. None: large (a training step).
    """
    if device_type == "cuda":
        return "bf16" if cuda_bf16_supported else "fp32"
    if device_type == "cpu":
        native = bool(CPU_BF16_FLAGS & set(cpu_flags))
        return "bf16" if native and (batch is None or batch >= CPU_BF16_MIN_BATCH) else "fp32"
    return "fp32"


PROBE_STEPS = 4
"""Timed training steps per precision when ``auto`` settles a CPU training run by the clock (after one
untimed step of each): a CPU's flags say bf16 is native, not that it pays at this model's sizes. On an
Intel Xeon with AMX (2026-12-03, ad hoc, one thread) the reacher dynamics' 15-step loss alone at
batch 32 ran 0.92x fp32's steps/s in bf16 (an AMD EPYC with AVX512-BF16: 1.45x), while the recipe's
whole dynamics-and-heads step, timed by this probe, was 1.13x: only the run's own steps decide it."""


class PrecisionProbe:
    """Settles ``auto`` for a training run by timing its own first steps in both precisions.

    The first ``2 * (1 + steps)`` steps alternate fp32 and bf16 (`next`); each precision's first step
    is not timed (a first call pays for allocation and kernel choice). Every probe step is a real
    training step, so nothing is thrown away. Pure bookkeeping: the caller times the steps.
    """

    def __init__(self, steps: int = PROBE_STEPS):
        if steps < 1:
            raise ValueError(f"a precision probe needs at least 1 timed step per precision, got {steps}")
        self.steps = steps
        self.seconds: dict[str, list[float]] = {"fp32": [], "bf16": []}
        self._seen = 0

    def next(self) -> str:
        """The precision of the next training step."""
        return ("fp32", "bf16")[self._seen % 2]

    def record(self, precision: str, seconds: float) -> None:
        """One step of ``precision`` took ``seconds``."""
        if precision != self.next():
            raise ValueError(f"the probe asked for a {self.next()} step, got one of {precision}")
        if self._seen >= 2:  # past each precision's untimed first step
            self.seconds[precision].append(float(seconds))
        self._seen += 1

    @property
    def done(self) -> bool:
        return self._seen >= 2 * (1 + self.steps)

    @property
    def chosen(self) -> str:
        """The faster precision by median step time (`faster_precision`); valid once `done`."""
        return faster_precision(self.seconds)

    def summary(self) -> dict:
        """What a run records: the median seconds per step of each precision and the choice."""
        return {
            "chosen": self.chosen,
            "median_s": {k: (float(np.median(v)) if v else None) for k, v in self.seconds.items()},
            "steps": self.steps,
        }


def faster_precision(seconds: dict[str, list[float]]) -> str:
    """``"bf16"`` if its median step time is below fp32's, else ``"fp32"`` (ties and missing timings
    keep fp32: its numerics are the reference)."""
    bf16, fp32 = seconds.get("bf16") or [], seconds.get("fp32") or []
    if not bf16 or not fp32:
        return "fp32"
    return "bf16" if np.median(bf16) < np.median(fp32) else "fp32"


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags, or none where /proc/cpuinfo cannot be read (then ``auto`` is fp32)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86, arm
            return frozenset(value.split())
    return frozenset()


def resolve_precision(precision: str, device: torch.device, batch: int | None = None) -> str:
    """``precision`` (``auto``, ``bf16`` or ``fp32``) as ``bf16`` or ``fp32`` for ``device`` (and, for
    ``auto``, ``batch`` rows per call: `choose_precision`)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    flags = cpu_flags() if device.type == "cpu" else ()
    cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return choose_precision(device.type, flags, cuda_bf16, batch)


def resolve_device(name: str | torch.device, local_rank: int = 0) -> torch.device:
    """The device ``name`` means here (``auto``: this process's CUDA GPU if any, else the CPU).

    Raises `DeviceError` for a device this machine lacks, before anything is loaded onto it, so the
    message is about the machine and not about whatever was being loaded.
    """
    if str(name) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as e:
        raise DeviceError(f"unknown device {name!r} ({e}); use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        _check_cuda(device)
    return device


def _check_cuda(device: torch.device) -> None:
    if not torch.cuda.is_available():
        build = (
            f"this torch ({torch.__version__}) was built without CUDA"
            if torch.version.cuda is None
            else "no GPU is visible"
        )
        raise DeviceError(f"device {str(device)!r} asked for, but CUDA is not available: {build}; use device 'cpu'")
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise DeviceError(
            f"device {str(device)!r} asked for, but this machine has {count} CUDA device(s): cuda:0..cuda:{count - 1}"
        )
