"""Training the world model on Minari datasets: `train` and its `TrainConfig`.

One process, or several under ``torchrun`` (torch DDP: gloo on CPU, nccl on CUDA), each rank
drawing its own batches. Rank 0 shows progress, writes TensorBoard logs and checkpoints.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from wmgym import checkpoint
from wmgym.data import store
from wmgym.data.sampler import SequenceSampler
from wmgym.data.store import fingerprint
from wmgym.metrics import psnr
from wmgym.model import ContextBank, WorldModel, preset
from wmgym.train.evaluate import open_loop
from wmgym.zoo import resolve


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Saved, merged with the model config, in ``RUN/config.json``."""

    preset: str = "small"
    """Model preset: ``debug``, ``small`` or ``base``."""
    batch_size: int = 16
    """Sequences per batch (per process under DDP)."""
    seq_len: int = 32
    """Steps per sequence."""
    lr: float = 6e-4
    """Adam learning rate: 6e-4 beat 3e-4 in 6-minute pilots on reacher (docs/world_model.md)."""
    grad_clip: float = 100.0
    steps: int | None = None
    """Stop after this many gradient steps (in total, across resumes)."""
    minutes: float | None = None
    """Stop after this many minutes of this invocation."""
    seed: int = 0
    device: str = "auto"
    """``auto`` (CUDA if available), ``cpu``, ``cuda``, ``cuda:1``, ..."""
    precision: str = "auto"
    """``auto``, ``bf16`` or ``fp32``. Auto is bf16 autocast, which made a training step faster on
    this CPU (benchmarks/results/train_step.md) and is the usual choice on recent GPUs."""
    compile: bool = False
    """torch.compile the model. Off by default: benchmarks/results/train_step.md has the CPU numbers;
    not yet measured on CUDA."""
    heldout_fraction: float = 0.05
    log_every: int = 25
    eval_every: int = 500
    checkpoint_every: int = 250
    eval_context: int = 5
    eval_horizon: int = 15
    init_from: str | None = None
    """Fine-tune: start from this checkpoint's (or zoo model's) weights and data statistics with a
    fresh optimizer, instead of a new ``preset`` model. Used by ``wmgym calibrate --improve``."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def train(
    data: list[str | Path], out: str | Path, config: TrainConfig | None = None, progress: bool = True
) -> WorldModel:
    """Train (or resume training) a world model on ``data``, saving to ``out``.

    If ``out/checkpoint`` exists, training resumes from it (same step, optimizer, sampler and RNG
    state) and says so. Returns the trained model.
    """
    config = config or TrainConfig()
    if config.steps is None and config.minutes is None:
        raise ValueError("say how long to train: steps or minutes")
    rank, world = _init_distributed()
    device = _device(config.device, rank)
    out = Path(out)
    ckpt_dir = out / "checkpoint"
    torch.manual_seed(config.seed)
    sampler = SequenceSampler(
        data, config.seq_len, config.batch_size, "train", config.heldout_fraction, seed=config.seed + rank
    )
    spec = sampler.spec
    need = config.eval_context + config.eval_horizon
    heldout = [ep for ep in sampler.other_split if len(ep) + 1 >= need][:8]
    context = _context_bank(sampler)
    model, optimizer, step = _model_and_optimizer(config, sampler, ckpt_dir, data, device, rank)
    if step and rank == 0 and progress:
        print(f"resuming {out} from step {step}")
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if config.compile:
        net = torch.compile(net)
    meta = _meta(config, spec, data, world)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps({**meta, "model": model.cfg.to_dict()}, indent=2))
    writer = _writer(out) if rank == 0 else None
    bf16 = config.precision in ("auto", "bf16")
    start, frames = time.perf_counter(), 0
    target = config.steps if config.steps is not None else None
    bar = tqdm(
        total=target, initial=step, disable=not progress or rank != 0, desc="train", unit="step", mininterval=1.0
    )
    metrics: dict = {}
    while not _done(step, target, config.minutes, start, world):
        batch = {k: torch.as_tensor(v, device=device) for k, v in sampler.sample().items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss, metrics = net(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        metrics["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip))
        optimizer.step()
        step += 1
        frames += config.batch_size * config.seq_len * world
        bar.update(1)
        fps = frames / (time.perf_counter() - start)
        if rank == 0 and step % config.log_every == 0:
            bar.set_postfix(loss=f"{metrics['loss']:.1f}", fps=f"{fps:.0f}")
            for k, v in metrics.items():
                writer.add_scalar(f"train/{k}", v, step)
            writer.add_scalar("train/frames_per_s", fps, step)
        if rank == 0 and heldout and step % config.eval_every == 0:
            metrics.update(_evaluate(model, heldout, config, writer, step))
        if step % config.checkpoint_every == 0:
            _checkpoint(ckpt_dir, model, optimizer, sampler, meta, step, metrics, rank, world, context)
    bar.close()
    if rank == 0 and heldout:
        metrics.update(_evaluate(model, heldout, config, writer, step))
    _checkpoint(ckpt_dir, model, optimizer, sampler, meta, step, metrics, rank, world, context)
    if writer is not None:
        writer.close()
    if world > 1:
        dist.barrier()
    return model


def _model_and_optimizer(config: TrainConfig, sampler: SequenceSampler, ckpt_dir: Path, data, device, rank: int):
    """A fresh model (its data statistics from the sampler's episodes), or the one in ``ckpt_dir`` with
    its optimizer, RNG and this rank's sampler state restored. Returns (model, optimizer, step)."""
    if not ckpt_dir.is_dir() and config.init_from:
        model, _ = checkpoint.load_model(resolve(config.init_from), device, task=sampler.spec)
        model.float()
        return model, torch.optim.Adam(model.parameters(), lr=config.lr, eps=1e-6), 0
    if not ckpt_dir.is_dir():
        episode = sampler.episodes[0]
        cfg = preset(
            config.preset,
            image_size=sampler.spec.image_size,
            state_dim=episode.state.shape[-1],
            action_dim=episode.actions.shape[-1],
        )
        model = WorldModel(cfg)
        model.set_data_statistics(*_data_statistics(sampler))
        model.to(device)
        return model, torch.optim.Adam(model.parameters(), lr=config.lr, eps=1e-6), 0
    model, saved = checkpoint.load_model(ckpt_dir, device, task=sampler.spec)
    _check_same_data(saved, data, ckpt_dir)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, eps=1e-6)
    checkpoint.load_trainer_state(ckpt_dir, optimizer, saved)
    sampler.load_state_dict(saved["sampler"].get(str(rank), saved["sampler"]["0"]))
    return model, optimizer, saved["step"]


def _done(step: int, target: int | None, minutes: float | None, start: float, world: int) -> bool:
    done = (target is not None and step >= target) or (
        minutes is not None and time.perf_counter() - start >= 60 * minutes
    )
    if world > 1:  # every rank must stop at the same step, or DDP waits forever
        flag = torch.tensor([float(done)])
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        done = bool(flag.item())
    return done


def _checkpoint(folder, model, optimizer, sampler, meta, step, metrics, rank, world, context) -> None:
    states = [sampler.state_dict()]
    if world > 1:
        states = [None] * world
        dist.all_gather_object(states, sampler.state_dict())
    if rank == 0:
        samplers = {str(r): s for r, s in enumerate(states)}
        meta = {**meta, "step": step, "metrics": metrics, "sampler": samplers}
        checkpoint.save(folder, model, meta, optimizer, context)


def _evaluate(model: WorldModel, episodes, config: TrainConfig, writer, step: int) -> dict:
    device = model.state_mean.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):  # keep training's random stream
        torch.manual_seed(step)
        res = open_loop(model, episodes, config.eval_context, config.eval_horizon)
    scores = psnr(res["pred_pixels"], res["true_pixels"]).mean(0)
    repeat = psnr(
        np.broadcast_to(res["last_context_pixels"][:, None], res["true_pixels"].shape), res["true_pixels"]
    ).mean(0)
    out = {}
    for h in sorted({1, 5, config.eval_horizon}):
        if h <= len(scores):
            out[f"heldout_psnr_h{h}"] = float(scores[h - 1])
            writer.add_scalar(f"eval/psnr_h{h}", scores[h - 1], step)
            writer.add_scalar(f"eval/repeat_last_psnr_h{h}", repeat[h - 1], step)
    truth, pred = res["true_pixels"][0], res["pred_pixels"][0]
    err = np.abs(truth.astype(np.int16) - pred.astype(np.int16)).astype(np.uint8)
    grid = np.concatenate(
        [np.concatenate(list(x), axis=1) for x in (truth, pred, err)], axis=0
    )  # rows: truth, pred, error
    writer.add_image("eval/open_loop_truth_pred_error", grid, step, dataformats="HWC")
    return out


def _context_bank(sampler: SequenceSampler, k: int = 4, most: int = 64) -> ContextBank:
    """Real starts saved with every checkpoint: the first frames of up to ``most`` held-out episodes
    (training episodes if none is held out), so a dream loads without the training data at hand."""
    episodes = [ep for ep in sampler.other_split if len(ep) >= k] or [ep for ep in sampler.episodes if len(ep) >= k]
    return ContextBank.from_episodes(episodes[:most], k=k)


def _data_statistics(sampler: SequenceSampler):
    """State mean and std, and the median of 2,000 random frames (gathered without copying them all)."""
    states = np.concatenate([ep.state for ep in sampler.episodes])
    ends = np.cumsum([len(ep.pixels) for ep in sampler.episodes])
    pick = np.sort(np.random.default_rng(0).choice(ends[-1], size=min(ends[-1], 2000), replace=False))
    which = np.searchsorted(ends, pick, side="right")
    starts = ends - np.array([len(ep.pixels) for ep in sampler.episodes])
    frames = np.stack([sampler.episodes[e].pixels[i - starts[e]] for e, i in zip(which, pick, strict=True)])
    background = np.median(frames, axis=0).round().astype(np.uint8)
    return states.mean(0), states.std(0), background


def _check_same_data(saved: dict, data, folder) -> None:
    now = [fingerprint(d) for d in data]
    before = [d["fingerprint"] for d in saved.get("datasets", [])]
    if now != before:
        raise checkpoint.CheckpointError(
            f"{folder} was trained on other data (fingerprints {before}, now {now}); "
            "resume with the same --data, or choose another --out"
        )


def _meta(config: TrainConfig, spec, data, world: int) -> dict:
    actions = store.action_space(data[0])
    return {
        "task": spec.to_dict(),
        "action_space": {"low": actions.low.tolist(), "high": actions.high.tolist()},
        "train": config.to_dict(),
        "world_size": world,
        "datasets": [{"path": str(Path(d).absolute()), "fingerprint": fingerprint(d)} for d in data],
    }


def _writer(out: Path):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(out / "tensorboard"))


def _init_distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _device(name: str, rank: int) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())
        return torch.device("cpu")
    return torch.device(name)
