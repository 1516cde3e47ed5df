"""`TrainConfig`: how to train, checked when it is made, and what a resumed run may change.

The ``wmgym train`` flags and their help are derived from the fields and the docstring under each.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

from wmgym.errors import RunFolderError
from wmgym.model.precision import PRECISIONS
from wmgym.model.registry import PRESETS

FIXED_ON_RESUME = (
    "preset",
    "proprio_only",
    "learned_dim",
    "horizon",
    "members",
    "cnn_depth",
    "batch_size",
    "seq_len",
    "seed",
    "heldout_fraction",
    "init_from",
    "train_only",
    "weight_decay",
)
"""Fields a resumed run must keep: they fix the model, the batches or the held-out split; the saved
state (weights, sampler and RNG) was made with them. Every other field may change on resume and is
applied (``lr`` and ``grad_clip`` to the restored optimizer too), and the change is recorded."""


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Saved, merged with the model config, in ``RUN/config.json``."""

    preset: str = "ensemble-small"
    """Model preset: ensemble-debug|small|base (v2) or debug|small|base (RSSM); see docs/world_model.md."""
    proprio_only: bool = False
    """Ensemble presets: dynamics on the task's joint sensors only (TaskSpec.proprio); targets from frames."""
    learned_dim: int | None = None
    """Ensemble presets: size of the latent part z a frame encoder infers for what the state input does
    not hold, rolled forward by the dynamics like the state. None: the preset's (0 with the full
    state, 8 with proprio_only). A full-state model needs it where the frames show what the
    observation leaves out: HalfCheetah's camera follows the torso over a floor that scrolls with the
    x position its observation omits."""
    horizon: int | None = None
    """Ensemble presets: steps of the dynamics' open-loop loss (None: the preset's, 10); below
    ``seq_len``. Each sequence gives ``seq_len - horizon`` windows: seq_len 16 with horizon 15 gives one
    window, 6x fewer rows than horizon 10, and in 10-minute pusher pilots 2.7x the steps and a lower
    error at every horizon (benchmarks/results/dynamics_data_pusher_bf16_horizon15_hidden512.md)."""
    members: int | None = None
    """Ensemble presets: dynamics MLPs (None: the preset's, 5). Their disagreement is the uncertainty;
    fewer make a cheaper step (more steps in the same minutes), more average away more of each member's
    error (benchmarks/results/dynamics_data_reacher_horizon15_horizon15-members3.md). Fixed once a run has started."""
    cnn_depth: int | None = None
    """Ensemble presets: channels of the renderer's last transposed conv (x2, x4, x8 before it; None: the
    preset's, 16 for ensemble-small). A frame costs ~3 x 16,384 d^2 FLOPs (15 MFLOP at 16, 4.5 at 8):
    the pixel dream's throughput is bounded by it (benchmarks/results/dream_throughput.md times the
    renderer by depth). With init_from, a depth other than that model's gives it a fresh renderer of
    this depth, trained beside its kept dynamics (e.g. --train-only renderer). Fixed once a run has started."""
    batch_size: int = 16
    """Sequences per batch (per process under DDP); fixed once a run has started."""
    seq_len: int = 32
    """Steps per sequence, at least 2; fixed once a run has started."""
    lr: float = 6e-4
    """Adam learning rate; 6e-4 beat 3e-4 in 6-minute pilots on reacher. May change on resume."""
    lr_decay: float = 0.3
    """Share of the budget, at its end, over which the lr falls linearly to 0 (the "decay" of a
    warmup-stable-decay schedule); 0: constant. A step budget counts all steps, a resume's included;
    a time budget is this invocation's minutes, followed by the clock. May change on resume. 0.3:
    on reacher's 100 held-out episodes the h=50 joint error was 24.2 degrees after 40 minutes at a
    constant lr and 6.4 with the last 30% decayed (docs/world_model.md)."""
    grad_clip: float = 100.0
    """Clip the gradient's global norm to this. May change on resume."""
    weight_decay: float = 0.0
    """Decoupled weight decay (AdamW; 0: plain Adam), a regularizer for small datasets; fixed once a
    run has started."""
    steps: int | None = None
    """Stop after this many gradient steps in total, counting those before a resume."""
    minutes: float | None = None
    """Stop after this many minutes of this invocation (with steps: whichever comes first)."""
    seed: int = 0
    """Seeds the model's initialization and the batches drawn; fixed once a run has started."""
    device: str = "auto"
    """auto (this process's CUDA GPU if there is one, else the CPU), cpu, cuda or cuda:N."""
    precision: str = "auto"
    """auto, bf16 or fp32 autocast. auto is bf16 on CUDA GPUs that support it; fp32 on CPUs without
    AVX512-BF16 or AMX-BF16 (bf16 is 5-14x slower on AVX2-only CPUs); on CPUs with them, the first 10
    steps alternate both, timed, and the run trains on in the faster (recorded as ``precision`` and
    ``precision_probe`` in its config.json; a resume keeps it). Give bf16 or fp32 for a bit-exact
    resume within those first steps."""
    compile: bool = False
    """torch.compile the model: slower on CPU (benchmarks/results/train_step.md), not yet measured on CUDA."""
    heldout_fraction: float = 0.05
    """Share of each dataset's episodes held out for evaluation, in [0, 1); fixed once a run has started."""
    log_every: int = 25
    """Write training metrics to TensorBoard every this many steps."""
    eval_every: int = 500
    """Evaluate open-loop prediction on held-out episodes every this many steps."""
    checkpoint_every: int = 250
    """Save a checkpoint every this many steps (and always at the end)."""
    eval_context: int = 5
    """Real frames the model filters before an open-loop evaluation."""
    eval_horizon: int = 15
    """Steps an open-loop evaluation predicts after its context."""
    init_from: str | None = None
    """Fine-tune: start from this checkpoint's (or zoo model's) weights and data statistics with a
    fresh optimizer, instead of a new preset model (``wmgym improve`` does)."""
    data_weights: tuple[float, ...] | None = None
    """Share of each batch drawn from each dataset, in the order given (normalized); None: every
    window equally likely, so datasets count by their frames. ``wmgym adapt`` mixes a few episodes of a
    perturbed robot with the model's own data at a fixed ratio so."""
    train_only: tuple[str, ...] = ()
    """Train only these parts of the model (its submodules, e.g. dynamics, reward_head, rssm.priors);
    the rest keeps its weights. Empty: the whole model. Fixed once a run has started."""
    anchor: float = 0.0
    """Weight of an L2 pull of the trained weights toward init_from's (L2-SP, Li et al. 2018): adds
    anchor * sum((w - w_init)^2) to the loss, so a fine-tune forgets less. 0: none; needs init_from."""

    def __post_init__(self):
        _check_choice("preset", self.preset, PRESETS)
        if self.proprio_only and not self.preset.startswith("ensemble-"):
            raise ValueError(f"proprio_only needs an ensemble preset (ensemble-small, ...), got preset {self.preset!r}")
        if self.learned_dim is not None:
            _check_int("learned_dim", self.learned_dim, 0)
            if not self.preset.startswith("ensemble-"):
                raise ValueError(
                    f"learned_dim needs an ensemble preset (ensemble-small, ...), got preset {self.preset!r}"
                )
        if self.horizon is not None:
            _check_int("horizon", self.horizon, 1)
            if not self.preset.startswith("ensemble-"):
                raise ValueError(f"horizon needs an ensemble preset (ensemble-small, ...), got preset {self.preset!r}")
            if self.horizon >= self.seq_len:
                raise ValueError(
                    f"horizon must be below seq_len (a window is horizon + 1 rows), got horizon {self.horizon} "
                    f"and seq_len {self.seq_len}: lengthen seq_len or shorten horizon"
                )
        for name in ("members", "cnn_depth"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), 1)
                if not self.preset.startswith("ensemble-"):
                    raise ValueError(
                        f"{name} needs an ensemble preset (ensemble-small, ...), got preset {self.preset!r}"
                    )
        _check_choice("precision", self.precision, PRECISIONS)
        for name, least in (("batch_size", 1), ("seq_len", 2), ("seed", 0), ("log_every", 1)):
            _check_int(name, getattr(self, name), least)
        for name in ("eval_every", "checkpoint_every", "eval_context", "eval_horizon"):
            _check_int(name, getattr(self, name), 1)
        if self.steps is not None:
            _check_int("steps", self.steps, 1)
        for name in ("lr", "grad_clip") + (("minutes",) if self.minutes is not None else ()):
            _check_positive(name, getattr(self, name))
        if not (_is_number(self.weight_decay) and math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be a number >= 0, got {self.weight_decay!r}")
        if not (_is_number(self.lr_decay) and 0 <= self.lr_decay <= 1):
            raise ValueError(f"lr_decay must be a share of the budget in [0, 1], got {self.lr_decay!r}")
        if not (_is_number(self.heldout_fraction) and 0 <= self.heldout_fraction < 1):
            raise ValueError(f"heldout_fraction must be in [0, 1), got {self.heldout_fraction!r}")
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        _check_fine_tuning(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def resume_changes(self, saved: dict, where) -> dict[str, list]:
        """``{field: [saved, now]}`` for each field that differs from the ``saved`` config of a run
        being resumed at ``where``; raises `RunFolderError` if any of them is in `FIXED_ON_RESUME`."""
        now, saved = (json.loads(json.dumps(d)) for d in (self.to_dict(), saved))  # tuples compare as JSON lists
        changes = {k: [saved[k], v] for k, v in now.items() if k in saved and saved[k] != v}
        fixed = [f"{k} (saved {changes[k][0]!r}, now {changes[k][1]!r})" for k in FIXED_ON_RESUME if k in changes]
        if fixed:
            raise RunFolderError(
                f"cannot resume {where} with a different {', '.join(fixed)}: the run was trained with the saved "
                "values. Pass them again to resume, or choose another --out for a new run"
            )
        return changes


def _check_fine_tuning(cfg: TrainConfig) -> None:
    if cfg.data_weights is not None:
        w = cfg.data_weights
        if not w or any(not _is_number(x) or not math.isfinite(x) or x < 0 for x in w) or sum(w) <= 0:
            raise ValueError(f"data_weights must be shares >= 0 (one per dataset) with a positive sum, got {w!r}")
    if not (_is_number(cfg.anchor) and math.isfinite(cfg.anchor) and cfg.anchor >= 0):
        raise ValueError(f"anchor must be a number >= 0, got {cfg.anchor!r}")
    if cfg.anchor > 0 and not cfg.init_from:
        raise ValueError("anchor pulls the weights toward init_from's: give init_from (the model to fine-tune)")
    if isinstance(cfg.train_only, str) or any(not isinstance(n, str) or not n for n in cfg.train_only):
        raise ValueError(f"train_only must be a tuple of submodule names, e.g. ('dynamics',), got {cfg.train_only!r}")


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def _check_int(name: str, value, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be a whole number of at least {least}, got {value!r}")


def _check_positive(name: str, value) -> None:
    if not (_is_number(value) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
