"""`adapt`: fine-tune a world model on a few episodes of the "real robot", without forgetting what it
knew, then calibrate it against that robot (``wmgym adapt``).

A world model, unlike MuJoCo, can learn the robot it is shown. With N <= 20 episodes of a perturbed
robot (a dataset collected from a perturbed truth env: ``wmgym collect --perturbation NAME``) the
fine-tune must not overfit them, nor lose what they do not show. Three levers, each a `TrainConfig`
field the trainer implements:

- ``train_only``: fine-tune part of the network (default: the dynamics; a perturbed camera or lighting
  unfreezes the renderer too), the rest keeps its weights exactly;
- ``real_share``: the share of each batch from the robot's episodes; the rest replays nominal data
  (the model's own training data where it is on disk, else fresh nominal MuJoCo episodes);
- ``anchor``: an L2 pull toward the nominal weights (L2-SP).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from wmgym import checkpoint
from wmgym.data import collect, dataset_perturbation, load_episodes
from wmgym.gap.folder import check_out, write_json
from wmgym.model.context import ContextBank
from wmgym.tasks import TaskSpec
from wmgym.train import TrainConfig, train
from wmgym.zoo import resolve

MARKER = "adapt.json"


@dataclass(frozen=True)
class AdaptConfig:
    """How `adapt` fine-tunes. Defaults: see docs/sim_to_real.md for the measurement behind them.

    Raises:
        ValueError: a share outside [0, 1], or a count out of range.
    """

    minutes: float | None = 3.0
    """Fine-tuning time (with steps: whichever comes first)."""
    steps: int | None = None
    """Fine-tuning gradient steps."""
    lr: float = 3e-4
    """Adam learning rate of the fine-tune (fresh optimizer)."""
    real_share: float = 1.0
    """Share of each batch from the robot's episodes; the rest replays nominal data (1: none)."""
    replay: tuple[str, ...] = ()
    """Nominal datasets to replay; empty: the model's own training data if it is on disk, else
    ``replay_episodes`` fresh nominal MuJoCo episodes (half OU noise, half random)."""
    replay_episodes: int = 60
    """Nominal episodes to collect when there is nothing to replay."""
    train_only: tuple[str, ...] | None = None
    """Parts of the model to fine-tune (`TrainConfig.train_only`); None: the dynamics (``dynamics`` of
    an ensemble model, ``rssm`` of an RSSM), or the whole model if the robot's camera or lights differ;
    (): the whole model."""
    anchor: float = 1e-3
    """L2 pull toward the nominal weights (`TrainConfig.anchor`); 0: none."""
    batch_size: int | None = None
    """Sequences per batch; None: the model's own training setting."""
    seq_len: int | None = None
    """Steps per sequence; None: the model's own training setting."""
    seed: int = 0
    """Seeds the fine-tune's batches."""
    device: str = "auto"
    """Torch device (auto: a CUDA GPU if there is one)."""
    calibrate: bool = True
    """Calibrate the adapted model against the robot (the dataset's perturbation) afterwards."""
    before: bool = True
    """Also calibrate the model before adaptation against the same robot, for comparison."""
    calibration_episodes: int = 16
    """Rendered paired rollouts per calibration."""
    calibration_state_episodes: int = 64
    """State-only paired rollouts per calibration."""
    workers: int = 1
    """Processes that collect replay episodes (when there is nothing to replay)."""

    def __post_init__(self):
        if not 0 < self.real_share <= 1:
            raise ValueError(f"real_share must be in (0, 1], got {self.real_share!r}")
        if self.minutes is None and self.steps is None:
            raise ValueError("say how long to fine-tune: minutes or steps")
        for name, low in (("replay_episodes", 2), ("calibration_episodes", 2), ("workers", 1)):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < low:
                raise ValueError(f"{name} must be a whole number >= {low}, got {getattr(self, name)!r}")
        if self.calibration_state_episodes < 0:
            raise ValueError(f"calibration_state_episodes must be >= 0, got {self.calibration_state_episodes}")


def adapt(
    model: str | Path, data: list[str | Path], out: str | Path, config: AdaptConfig | None = None, progress=True
) -> dict:
    """Fine-tune ``model`` on the robot episodes in ``data`` and calibrate it against that robot.

    Args:
        model: a zoo name, checkpoint or run folder: the nominal world model.
        data: dataset folders of the robot (``collect(..., perturbation=...)``); they record which
            perturbed robot they come from, and calibration measures against it.
        out: folder for ``run/`` (the adapted model: ``gym.make("wmgym/Reacher-v0", model=OUT/run)``),
            ``calibration/`` (and ``calibration-before/``), ``perturbation.json``, ``adapt.json``.
        config: how to fine-tune (default `AdaptConfig()`).
        progress: show progress bars.

    Returns:
        What ``adapt.json`` holds: the episodes used, the settings, and the trust horizon before and
        after against the robot.

    Raises:
        FileExistsError: ``out`` holds files that ``wmgym adapt`` did not write.
        ValueError: no data, or data of several different robots.
    """
    cfg, out, started = config or AdaptConfig(), Path(out), time.perf_counter()
    check_out(out, MARKER, "adapt")
    data = [Path(d) for d in data]
    folder = resolve(model)
    robot, episodes = _robot(data)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / MARKER, {"wmgym": "adapt", "status": "started"})  # an interrupted adapt may be rerun here
    replay = _replay(folder, cfg, out, progress) if cfg.real_share < 1 else []
    train_cfg = _train_config(folder, cfg, robot, len(data), len(replay))
    train([*map(str, data), *map(str, replay)], out / "run", train_cfg, progress=progress)
    _robot_context(out / "run", data, folder)
    summary = {
        "wmgym": "adapt",
        "model": str(model),
        "data": [str(d) for d in data],
        "episodes_used": episodes,
        "perturbation": None if robot is None else robot.to_dict(),
        "replay": [str(d) for d in replay],
        "settings": asdict(cfg),
        "train": train_cfg.to_dict(),
        "adapted": str(out / "run"),
    }
    if cfg.calibrate:
        summary["calibration"] = _calibrations(folder, out, cfg, robot, progress)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["status"] = "done"
    return write_json(out / MARKER, summary)


def _robot(data: list[Path]):
    """The one perturbation the datasets were collected from (None: nominal MuJoCo) and their episodes."""
    if not data:
        raise ValueError("give the robot's episodes: one or more dataset folders (wmgym collect --perturbation NAME)")
    robots = {json.dumps(None if p is None else p.to_dict(), sort_keys=True) for p in map(dataset_perturbation, data)}
    if len(robots) > 1:
        raise ValueError(f"the datasets come from {len(robots)} different robots; adapt to one robot at a time")
    episodes = sum(len(load_episodes(d)[1]) for d in data)
    return dataset_perturbation(data[0]), episodes


def _replay(folder: Path, cfg: AdaptConfig, out: Path, progress: bool) -> list[Path]:
    """Nominal data to replay: given, the model's own (if on disk), or freshly collected."""
    if cfg.replay:
        return [Path(d) for d in cfg.replay]
    own = [Path(d["path"]) for d in checkpoint.read_config(folder).get("datasets", [])]
    if own and all((d / "wmgym.json").is_file() for d in own):
        return own
    task = TaskSpec.from_dict(checkpoint.read_config(folder)["task"])
    half = cfg.replay_episodes // 2
    return [
        collect(task, n, out / f"replay-{policy}", policy=policy, seed=seed, workers=cfg.workers, progress=progress).out
        for policy, n, seed in (("ou-noise", half, 71), ("random", cfg.replay_episodes - half, 72))
    ]


def _train_config(folder: Path, cfg: AdaptConfig, robot, n_real: int, n_replay: int) -> TrainConfig:
    saved = checkpoint.read_config(folder)
    own = saved.get("train", {})
    weights = None
    if n_replay:
        weights = (*[cfg.real_share / n_real] * n_real, *[(1 - cfg.real_share) / n_replay] * n_replay)
    return TrainConfig(
        init_from=str(folder),
        minutes=cfg.minutes,
        steps=cfg.steps,
        lr=cfg.lr,
        batch_size=cfg.batch_size or own.get("batch_size", TrainConfig.batch_size),
        seq_len=cfg.seq_len or own.get("seq_len", TrainConfig.seq_len),
        seed=cfg.seed,
        device=cfg.device,
        heldout_fraction=0.0,  # every robot episode trains; the calibration measures on fresh ones
        eval_every=10**9,
        data_weights=weights,
        train_only=_parts(saved, cfg, robot),
        anchor=cfg.anchor,
    )


def _parts(saved: dict, cfg: AdaptConfig, robot) -> tuple[str, ...]:
    """`AdaptConfig.train_only`, with None resolved for this model and robot."""
    if cfg.train_only is not None:
        return tuple(cfg.train_only)
    if robot is not None and not robot.visual.is_off:
        return ()  # what the camera sees changed: the renderer must learn too
    return ("dynamics",) if saved["model"].get("kind") == "ensemble" else ("rssm",)


def _robot_context(run: Path, data: list[Path], nominal: Path) -> None:
    """Start the adapted dream from the robot's own first frames (the trainer's bank mixes in replay
    data): a context is the first K steps of an episode, and the robot's moved as the robot does."""
    k = ContextBank.load(nominal).actions.shape[1]
    episodes = [ep for d in data for ep in load_episodes(d)[1]]
    ContextBank.from_episodes(episodes, k=k).save(checkpoint.find(run))


def _calibrations(nominal: Path, out: Path, cfg: AdaptConfig, robot, progress: bool) -> dict:
    """Trust horizon (and the card's other numbers) of the adapted model, and of the model before,
    against the robot."""
    from wmgym.calibrate import CalibrationConfig, calibrate

    spec_file = None
    if robot is not None:
        spec_file = out / "perturbation.json"
        write_json(spec_file, robot.to_dict())
    ccfg = CalibrationConfig(
        episodes=cfg.calibration_episodes,
        state_episodes=cfg.calibration_state_episodes,
        policy_episodes=0,
        videos=False,
        perturbation=None if spec_file is None else str(spec_file),
    )
    result = {}
    runs = [("after", out / "run", out / "calibration")]
    if cfg.before:
        runs.insert(0, ("before", nominal, out / "calibration-before"))
    for label, model, folder in runs:
        card = calibrate(model, folder, ccfg, progress=progress)
        result[label] = {"trust_horizon": card["trust_horizon"]["steps"], "card": str(folder / "card.json")}
        result[label]["criteria"] = {n: c["horizon"] for n, c in card["trust_horizon"]["criteria"].items()}
    return result
