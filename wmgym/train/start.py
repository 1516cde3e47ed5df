"""Where a run starts: a fresh, fine-tuned or resumed model and optimizer, and what the run records.

Resuming restores the step, the optimizer, torch's RNG and the sampler's generator, so a resumed run
continues exactly as an uninterrupted one would; it refuses another task, other data, or a changed
setting that `TrainConfig` fixes for a run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from wmgym import checkpoint
from wmgym.data import store
from wmgym.data.sampler import SequenceSampler
from wmgym.data.store import fingerprint
from wmgym.errors import CheckpointError
from wmgym.model import ContextBank, EnsembleWorldModel, WorldModel, build, preset_config
from wmgym.model.ensemble_config import proprio
from wmgym.tasks import get_task, list_tasks
from wmgym.train.config import TrainConfig
from wmgym.zoo import resolve


def resume_point(ckpt_dir: Path, config: TrainConfig, sampler, data, out: Path) -> tuple[dict | None, dict]:
    """The saved checkpoint's config and the settings this resume changes, or (None, {}) for a new
    run; raises if the checkpoint is of another task or data, or ``config`` changes a fixed setting."""
    if not ckpt_dir.is_dir():
        return None, {}
    saved = checkpoint.read_config(ckpt_dir)
    checkpoint.check_task(saved, sampler.spec, ckpt_dir)
    changes = config.resume_changes(saved.get("train", {}), out)
    _check_same_data(saved, data, ckpt_dir)
    return saved, changes


def model_and_optimizer(config: TrainConfig, sampler, ckpt_dir: Path, saved: dict | None, device, rank: int):
    """The checkpoint's model with its optimizer (at ``config``'s lr), torch's RNG and this rank's
    sampler state restored; else a fine-tuned or a fresh model with a fresh optimizer."""
    if saved is not None:
        model, _ = checkpoint.load_model(ckpt_dir, device, task=sampler.spec)
        freeze_all_but(model, config.train_only)
        optimizer = _adam(model, config)
        checkpoint.load_trainer_state(ckpt_dir, optimizer, saved)
        for group in optimizer.param_groups:
            group["lr"] = config.lr
        sampler.load_state_dict(saved["sampler"].get(str(rank), saved["sampler"]["0"]))
        return model, optimizer
    if config.init_from:
        model, _ = checkpoint.load_model(resolve(config.init_from), device, task=sampler.spec)
        model = _with_renderer_depth(model.float(), config).to(device)
        freeze_all_but(model, config.train_only)
        return model, _adam(model, config)
    model = _fresh_model(config, sampler).to(device)
    freeze_all_but(model, config.train_only)
    return model, _adam(model, config)


def _with_renderer_depth(model: torch.nn.Module, config: TrainConfig) -> torch.nn.Module:
    """init_from's model, with a fresh renderer of ``config.cnn_depth`` channels where that differs
    from its own: a cheaper (or finer) renderer for trained dynamics, which keep their weights and data
    statistics (the normalization and the background the renderer draws over). Raises ValueError where
    that cannot work: a model without such a renderer, or one that would stay untrained."""
    depth = config.cnn_depth
    if depth is None or model.cfg.cnn_depth == depth:
        return model
    if not isinstance(model, EnsembleWorldModel) or model.encoder is not None:
        raise ValueError(
            f"cnn_depth {depth} with init_from {config.init_from}: a new renderer fits a full-state ensemble "
            "model only (its renderer draws from the state; this model's frames also feed a frame encoder or "
            "an RSSM); fine-tune it without --cnn-depth"
        )
    if config.train_only and "renderer" not in config.train_only:
        raise ValueError(
            f"cnn_depth {depth} gives {config.init_from}'s model a new renderer, but train_only "
            f"{list(config.train_only)} leaves it untrained: add renderer (--train-only renderer)"
        )
    fresh = build(model.cfg.replace(cnn_depth=depth))
    kept = {k: v for k, v in model.state_dict().items() if not k.startswith("renderer.")}
    missing, unexpected = fresh.load_state_dict(kept, strict=False)
    assert not unexpected and all(k.startswith("renderer.") for k in missing), (missing, unexpected)
    return fresh


def freeze_all_but(model: torch.nn.Module, parts: tuple[str, ...]) -> None:
    """Leave only the submodules ``parts`` (dotted names, e.g. ``rssm.priors``) trainable; none given:
    all of the model. Raises ValueError naming the model's parts for a name it lacks."""
    if not parts:
        return
    missing = [p for p in parts if not _has_submodule(model, p)]
    if missing:
        have = ", ".join(n for n, _ in model.named_children())
        raise ValueError(f"train_only names {', '.join(map(repr, missing))}, which this model lacks; its parts: {have}")
    model.requires_grad_(False)
    for p in parts:
        model.get_submodule(p).requires_grad_(True)


def _has_submodule(model: torch.nn.Module, name: str) -> bool:
    try:
        model.get_submodule(name)
        return True
    except AttributeError:
        return False


def anchor_weights(config: TrainConfig, model: torch.nn.Module, device) -> list | None:
    """(trainable parameter, its init_from value) pairs for `TrainConfig.anchor` (None when it is 0).
    Read from init_from itself, so a resumed fine-tune is pulled toward the same weights."""
    if not config.anchor:
        return None
    initial, _ = checkpoint.load_model(resolve(config.init_from), device)
    before = dict(initial.float().named_parameters())
    return [(p, before[n].detach()) for n, p in model.named_parameters() if p.requires_grad]


def _fresh_model(config: TrainConfig, sampler: SequenceSampler):
    episode = sampler.episodes[0]
    if episode.state.shape[-1] == 0 and not config.proprio_only:
        raise ValueError(
            f"the data of task {sampler.spec.name!r} has no state vector (frames without proprioception): "
            "train an ensemble preset with proprio_only=True (--proprio-only), which infers its latent from frames"
        )
    cfg = preset_config(
        config.preset,
        image_size=sampler.spec.image_size,
        state_dim=episode.state.shape[-1],
        action_dim=episode.actions.shape[-1],
    )
    if config.proprio_only:
        cfg = proprio(cfg, _proprio_indices(sampler.spec))
    if config.learned_dim is not None:
        cfg = cfg.replace(learned_dim=config.learned_dim)
    if config.horizon is not None:
        cfg = cfg.replace(horizon=config.horizon)
    if config.members is not None:
        cfg = cfg.replace(members=config.members)
    if config.cnn_depth is not None:
        cfg = cfg.replace(cnn_depth=config.cnn_depth)
    model = build(cfg)
    model.set_data_statistics(*_data_statistics(sampler))
    return model


def _proprio_indices(spec) -> tuple[int, ...]:
    registered = get_task(spec.name) if spec.name in list_tasks() else spec
    if registered.proprio is None:
        raise ValueError(
            f"task {spec.name!r}: its whole observation is proprioception (TaskSpec.proprio is None), "
            "so proprio_only would change nothing; train without it"
        )
    return registered.proprio


def _adam(model: WorldModel, config: TrainConfig) -> torch.optim.Optimizer:
    trainable = [p for p in model.parameters() if p.requires_grad]  # all, unless train_only says otherwise
    if config.weight_decay > 0:
        return torch.optim.AdamW(trainable, lr=config.lr, eps=1e-6, weight_decay=config.weight_decay)
    return torch.optim.Adam(trainable, lr=config.lr, eps=1e-6)


def context_bank(sampler: SequenceSampler, k: int = 4, most: int = 64) -> ContextBank:
    """Real starts saved with every checkpoint: the first frames of up to ``most`` held-out episodes
    (training episodes if none is held out), so a dream loads without the training data at hand."""
    framed = [ep for ep in sampler.other_split if len(ep) >= k and ep.pixels is not None]
    episodes = framed or [ep for ep in sampler.episodes if len(ep) >= k and ep.pixels is not None]
    return ContextBank.from_episodes(episodes[:most], k=k)


def _data_statistics(sampler: SequenceSampler):
    """State mean and std over every training episode (state-only ones included), and the median of
    2,000 random frames (gathered without copying them all)."""
    states = np.concatenate([ep.state for ep in sampler.all_episodes])
    framed = [ep for ep in sampler.all_episodes if ep.pixels is not None]
    ends = np.cumsum([len(ep.pixels) for ep in framed])
    pick = np.sort(np.random.default_rng(0).choice(ends[-1], size=min(ends[-1], 2000), replace=False))
    which = np.searchsorted(ends, pick, side="right")
    starts = ends - np.array([len(ep.pixels) for ep in framed])
    frames = np.stack([framed[e].pixels[i - starts[e]] for e, i in zip(which, pick, strict=True)])
    background = np.median(frames, axis=0).round().astype(np.uint8)
    return states.mean(0), states.std(0), background


def _check_same_data(saved: dict, data, folder) -> None:
    now = [fingerprint(d) for d in data]
    before = [d["fingerprint"] for d in saved.get("datasets", [])]
    if now != before:
        raise CheckpointError(
            f"{folder} was trained on other data (fingerprints {before}, now {now}); "
            "resume with the same --data, or choose another --out"
        )


def meta(config: TrainConfig, spec, data, world: int, precision: str, history: list) -> dict:
    """What the run config.json and every checkpoint record about the run (the truth of this
    invocation: ``train`` as applied, ``train_changes`` made on earlier resumes, the precision used)."""
    actions = store.action_space(data[0])
    return {
        "task": spec.to_dict(),
        "action_space": {"low": actions.low.tolist(), "high": actions.high.tolist()},
        "train": config.to_dict(),
        "train_changes": history,
        "precision": precision,
        "world_size": world,
        "datasets": [{"path": str(Path(d).absolute()), "fingerprint": fingerprint(d)} for d in data],
    }
