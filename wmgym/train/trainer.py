"""Training the world model on Minari datasets: `train` (its settings are `TrainConfig`).

One process, or several under ``torchrun`` (torch DDP: nccl for CUDA devices, gloo otherwise), each
rank drawing its own batches. Rank 0 owns the run folder (`wmgym.train.run`): it locks it, shows
progress, writes TensorBoard logs and checkpoints.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from wmgym import checkpoint
from wmgym.data.sampler import SequenceSampler
from wmgym.errors import CheckpointError, RunFolderError, TrainingDivergedError
from wmgym.model import ContextBank, WorldModel
from wmgym.model.precision import PrecisionProbe, resolve_device, resolve_precision
from wmgym.train import run as run_folder
from wmgym.train import start
from wmgym.train.config import TrainConfig
from wmgym.train.evaluate import evaluate_heldout

__all__ = ["TrainConfig", "train"]


@dataclass
class _Run:
    """What one invocation of `train` works with; ``writer`` is None except on rank 0."""

    config: TrainConfig
    out: Path
    rank: int
    world: int
    device: torch.device
    sampler: SequenceSampler
    model: WorldModel
    net: torch.nn.Module
    optimizer: torch.optim.Optimizer
    meta: dict
    anchor: list | None
    context: ContextBank
    heldout: list
    bf16: bool
    probe: PrecisionProbe | None
    writer: object | None
    bar: tqdm
    step: int
    saved_step: int | None
    first_step: int = 0
    started: float = field(default_factory=time.perf_counter)
    frames: int = 0
    metrics: dict = field(default_factory=dict)

    @property
    def ckpt_dir(self) -> Path:
        return self.out / checkpoint.CHECKPOINT


def train(
    data: list[str | Path], out: str | Path, config: TrainConfig | None = None, progress: bool = True
) -> WorldModel:
    """Train (or resume training) a world model on ``data``, saving to the run folder ``out``.

    ``out`` must be new, empty or an earlier run (`wmgym.train.run`). If it holds a checkpoint,
    training resumes from it (same step, optimizer, sampler and RNG state) and says so; settings a
    resume may not change raise, the others are applied and recorded (`TrainConfig.resume_changes`).
    A save a crash interrupted is settled first (`wmgym.checkpoint.recover`). Returns the model.

    Raises:
        RunFolderError: ``out`` is not a run folder, is in use, or asked to resume differently.
        TrainingDivergedError: the loss or gradient became non-finite (the last checkpoint is kept).
        CheckpointError: the checkpoint to resume is damaged or cannot be saved.
    """
    config = config or TrainConfig()
    if config.steps is None and config.minutes is None:
        raise ValueError("say how long to train: steps or minutes")
    local_rank = int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")))
    device = resolve_device(config.device, local_rank)
    rank, world = _init_distributed(device)
    out = Path(out)
    frames = _needs_frames(config, data)
    sampler = SequenceSampler(  # reads the data before anything is written
        data,
        config.seq_len,
        config.batch_size,
        "train",
        config.heldout_fraction,
        seed=config.seed + rank,
        weights=config.data_weights,
        pixels=frames,
    )
    with _claimed(out, rank, world, device) as recovered:
        if recovered:
            print(f"{out}: {recovered}", file=sys.stderr)
        run = _setup(sampler, data, out, config, rank, world, device, progress)
        try:
            _loop(run)
            _finish(run)
        finally:
            _close(run)
    return run.model


FRAMELESS_PARTS = frozenset({"dynamics", "reward_head", "cont_head", "state_head"})
"""The parts of a full-state ensemble that train without frames (on the state vector alone)."""


def _needs_frames(config: TrainConfig, data) -> bool:
    """Whether this run trains anything that sees frames; if not, its batches carry none and it
    draws from state-only datasets too. Raises ValueError where state-only data would go unused."""
    from wmgym.data.store import dataset_has_pixels

    paths = [data] if isinstance(data, str | Path) else list(data)
    state_only = [str(p) for p in paths if not dataset_has_pixels(p)]
    frameless = (
        bool(config.train_only)
        and set(config.train_only) <= FRAMELESS_PARTS
        and config.preset.startswith("ensemble-")
        and not config.proprio_only
        and not config.learned_dim
    )
    if state_only and not config.train_only:
        raise ValueError(
            f"{', '.join(state_only)}: state-only data (collected with --no-pixels) trains only a full-state "
            "ensemble's dynamics and heads, and this run trains every part. Train those parts apart "
            f"(train_only={tuple(sorted(FRAMELESS_PARTS - {'state_head'}))}) and the renderer in a second run "
            "on the same data, then join them (wmgym.train.parts.take_parts; benchmarks/world_model.py --split "
            "does all three), or leave the state-only datasets out"
        )
    return not frameless


@contextmanager
def _claimed(out: Path, rank: int, world: int, device: torch.device):
    """Rank 0 claims and locks the run folder; every rank learns whether it could."""
    with ExitStack() as stack:
        error, recovered = None, None
        if rank == 0:
            try:
                recovered = stack.enter_context(run_folder.claim(out))
            except RunFolderError as e:
                error = e
        if _any_rank(error is not None, world, device):
            raise error or RunFolderError(f"rank 0 could not claim the run folder {out}; see its error")
        yield recovered


def _setup(sampler, data, out: Path, config: TrainConfig, rank: int, world: int, device, progress: bool) -> _Run:
    """The model (fresh, fine-tuned or resumed), the run's config.json and logs."""
    torch.manual_seed(config.seed)
    need = config.eval_context + config.eval_horizon
    heldout = [ep for ep in sampler.other_split if len(ep) + 1 >= need and ep.pixels is not None][:8]
    context = start.context_bank(sampler)
    ckpt_dir = out / checkpoint.CHECKPOINT
    saved, changes = start.resume_point(ckpt_dir, config, sampler, data, out)
    model, optimizer = start.model_and_optimizer(config, sampler, ckpt_dir, saved, device, rank)
    if not sampler.pixels and getattr(model, "encoder", None) is not None:
        raise ValueError(
            "this model infers part of its latent from frames (a frame encoder), so its dynamics cannot train "
            "without them; train it on datasets with frames"
        )
    anchor = start.anchor_weights(config, model, device)
    step = saved["step"] if saved else 0
    if step and rank == 0 and progress:
        told = "".join(f", {k} {a!r} -> {b!r}" for k, (a, b) in changes.items())
        print(f"resuming {out} from step {step}{told}")
    precision, probe, measured = _precision(config, device, world, saved)
    history = (saved or {}).get("train_changes", []) + ([{"step": step, "changes": changes}] if changes else [])
    meta = start.meta(config, sampler.spec, data, world, precision, history)
    if measured:
        meta["precision_probe"] = measured
    if rank == 0:
        _write_run_config(out, meta, model)
    bar = tqdm(
        total=config.steps, initial=step, disable=not progress or rank != 0, desc="train", unit="step", mininterval=1
    )
    return _Run(
        config=config,
        out=out,
        rank=rank,
        world=world,
        device=device,
        sampler=sampler,
        model=model,
        net=_wrap(model, config, world, device),
        optimizer=optimizer,
        meta=meta,
        anchor=anchor,
        context=context,
        heldout=heldout,
        bf16=precision == "bf16",
        probe=probe,
        writer=_writer(out) if rank == 0 else None,
        bar=bar,
        step=step,
        saved_step=step if saved else None,
        first_step=step,
    )


def _precision(
    config: TrainConfig, device, world: int, saved: dict | None
) -> tuple[str, PrecisionProbe | None, dict | None]:
    """The run's autocast precision; a `PrecisionProbe` where ``auto`` is settled by the clock (on a CPU
    whose flags say bf16 is native, one process: the ranks of a DDP run would have to agree); and the
    probe's record a resume goes on with (it keeps what its run measured, as if uninterrupted)."""
    precision = resolve_precision(config.precision, device)
    if config.precision != "auto" or precision != "bf16" or device.type != "cpu" or world != 1:
        return precision, None, None
    measured = (saved or {}).get("precision_probe")
    if measured:
        return measured["chosen"], None, measured
    return "measuring", PrecisionProbe(), None


def _loop(run: _Run) -> None:
    while not _done(run):
        _train_step(run)
        _log(run)
        if run.step % run.config.eval_every == 0:
            _evaluate(run)
        if run.step % run.config.checkpoint_every == 0:
            _save(run)


def _finish(run: _Run) -> None:
    """Evaluate and save once more at the end, unless this invocation had nothing to train."""
    run.bar.close()
    if run.step == run.first_step:
        if run.rank == 0 and not run.bar.disable:
            print(f"{run.out} is already at step {run.step}: nothing to train")
        return
    _evaluate(run)
    _save(run)
    if run.world > 1:
        dist.barrier()


def _close(run: _Run) -> None:
    run.bar.close()
    if run.writer is not None:
        run.writer.close()


def _train_step(run: _Run) -> None:
    """One gradient step on a fresh batch; refuses to apply a non-finite update."""
    began = time.perf_counter()
    bf16 = run.bf16 if run.probe is None else run.probe.next() == "bf16"
    batch = {k: torch.as_tensor(v, device=run.device) for k, v in run.sampler.sample().items()}
    try:
        with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss, metrics = run.net(batch)
        if run.anchor:
            pull = sum(((p - p0) ** 2).sum() for p, p0 in run.anchor)
            loss = loss + run.config.anchor * pull
            metrics["anchor_l2"] = float(pull)
    except RuntimeError as e:  # e.g. sampling the latent from NaN probabilities
        if not _NON_FINITE.search(str(e)):
            raise
        _diverged(run, "model's activations", e)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    metrics["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.config.grad_clip))
    bad = [k for k in ("loss", "grad_norm") if not math.isfinite(metrics[k])]
    if bad:  # under DDP every rank sees the same all-reduced gradient, so all stop here together
        _diverged(run, " and ".join(bad))
    lr = run.config.lr * _lr_factor(run)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    metrics["lr"] = lr
    run.optimizer.step()
    if run.probe is not None:
        _probed(run, "bf16" if bf16 else "fp32", time.perf_counter() - began)
    run.step += 1
    run.frames += run.config.batch_size * run.config.seq_len * run.world
    run.metrics = metrics
    run.bar.update(1)


def _probed(run: _Run, precision: str, seconds: float) -> None:
    """Record a probe step; once the probe is done, train on in the faster precision and say which
    in the run's config.json (and every checkpoint after)."""
    run.probe.record(precision, seconds)
    if not run.probe.done:
        return
    summary = run.probe.summary()
    run.bf16 = summary["chosen"] == "bf16"
    run.meta = {**run.meta, "precision": summary["chosen"], "precision_probe": summary}
    run.probe = None
    if run.rank == 0:
        _write_run_config(run.out, run.meta, run.model)


def _lr_factor(run: _Run) -> float:
    """`TrainConfig.lr_decay`: 1 until the last ``lr_decay`` of the budget, then falling linearly to
    0 at its end, whichever budget is further along: the steps (in total, as `TrainConfig.steps`
    counts them, so a resumed run follows the schedule it would have uninterrupted) or this
    invocation's minutes."""
    cfg = run.config
    if not cfg.lr_decay:
        return 1.0
    done = 0.0
    if cfg.steps is not None:
        done = run.step / cfg.steps
    if cfg.minutes is not None:
        done = max(done, (time.perf_counter() - run.started) / (60 * cfg.minutes))
    return min(1.0, max(0.0, (1.0 - done) / cfg.lr_decay))


_NON_FINITE = re.compile(r"\b(nan|inf)\b", re.IGNORECASE)


def _diverged(run: _Run, what: str, cause: Exception | None = None) -> None:
    lr = run.config.lr
    kept = (
        f"the last good checkpoint (step {run.saved_step}) in {run.ckpt_dir} is kept: resume it"
        if run.saved_step is not None
        else "no checkpoint was saved yet: start again"
    )
    raise TrainingDivergedError(
        f"training diverged at step {run.step + 1}: the {what} became non-finite (NaN or inf) with lr {lr:g}; "
        f"nothing was saved from this step, and {kept} with a lower lr (e.g. lr={lr / 10:g})"
    ) from cause


def _log(run: _Run) -> None:
    if run.rank != 0 or run.step % run.config.log_every:
        return
    fps = run.frames / (time.perf_counter() - run.started)
    run.bar.set_postfix(loss=f"{run.metrics['loss']:.1f}", fps=f"{fps:.0f}")
    for k, v in run.metrics.items():
        run.writer.add_scalar(f"train/{k}", v, run.step)
    run.writer.add_scalar("train/frames_per_s", fps, run.step)


def _done(run: _Run) -> bool:
    """The stop rule: the step target or the time budget; every rank must stop at the same step,
    or DDP waits forever."""
    cfg = run.config
    done = (cfg.steps is not None and run.step >= cfg.steps) or (
        cfg.minutes is not None and time.perf_counter() - run.started >= 60 * cfg.minutes
    )
    return _any_rank(done, run.world, run.device)


def _save(run: _Run) -> None:
    """A checkpoint of this step (rank 0 writes it; all ranks learn if it failed)."""
    states = [run.sampler.state_dict()]
    if run.world > 1:
        states = [None] * run.world
        dist.all_gather_object(states, run.sampler.state_dict())
    error = None
    if run.rank == 0:
        samplers = {str(r): s for r, s in enumerate(states)}
        meta = {**run.meta, "step": run.step, "metrics": run.metrics, "sampler": samplers}
        try:
            checkpoint.save(run.ckpt_dir, run.model, meta, run.optimizer, run.context)
        except CheckpointError as e:
            error = e
    if _any_rank(error is not None, run.world, run.device):
        raise error or CheckpointError(f"rank 0 could not save {run.ckpt_dir}; see its error")
    run.saved_step = run.step


def _evaluate(run: _Run) -> None:
    """Held-out open-loop scores to TensorBoard and into the next checkpoint's metrics (rank 0)."""
    if run.rank == 0 and run.heldout:
        cfg = run.config
        run.metrics.update(
            evaluate_heldout(run.model, run.heldout, cfg.eval_context, cfg.eval_horizon, run.writer, run.step)
        )


def _wrap(model: WorldModel, config: TrainConfig, world: int, device: torch.device) -> torch.nn.Module:
    """The module the step calls: DDP across ranks, compiled if asked."""
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    return torch.compile(net) if config.compile else net


def _write_run_config(out: Path, meta: dict, model: WorldModel) -> None:
    try:
        checkpoint.write_json(out / checkpoint.CONFIG, {checkpoint.RUN_KEY: 1, **meta, "model": model.cfg.to_dict()})
    except OSError as e:
        raise RunFolderError(f"cannot write {out / checkpoint.CONFIG}: {e.strerror} ({e.filename})") from e


def _writer(out: Path):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(out / "tensorboard"))


def _init_distributed(device: torch.device) -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _any_rank(flag: bool, world: int, device: torch.device) -> bool:
    """True on every rank if ``flag`` is true on any (a no-op for one process)."""
    if world == 1:
        return flag
    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
