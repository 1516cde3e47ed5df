"""The models shipped in the package (``wmgym/zoo/<name>/``), and finding a model by name or folder.

Light on purpose: ``import wmgym`` lists the zoo to register its dream ids without loading torch
(`resolve` imports `wmgym.checkpoint` only when it is given a folder). Packing a checkpoint into the
zoo is `wmgym.zoo.export`.
"""

from __future__ import annotations

from pathlib import Path

from wmgym.errors import CheckpointError

ZOO = Path(__file__).parent


def zoo_models() -> list[str]:
    """Names of the models shipped in the package (``wmgym/zoo/<name>/``)."""
    return sorted(p.name for p in ZOO.iterdir() if (p / "config.json").is_file())


def resolve(model: str | Path) -> Path:
    """A zoo name, a checkpoint folder or a training run folder -> the folder holding the checkpoint.

    A folder that holds a model wins over a zoo name of the same spelling. For a run folder this is
    its ``checkpoint/`` (or, if a crash interrupted a save, the complete copy beside it).
    Raises `CheckpointError` saying what ``model`` is instead.
    """
    path = Path(model)
    if str(model) in zoo_models() and not _holds_a_model(path):
        return ZOO / str(model)
    from wmgym.checkpoint import find  # loads torch: only for folders

    try:
        return find(path)
    except CheckpointError:
        if path.exists():
            raise  # says what the folder is instead
    names = ", ".join(zoo_models()) or "none shipped yet"
    raise CheckpointError(
        f"no model {str(model)!r}: not a zoo name ({names}) and no checkpoint or run folder at {path.absolute()}"
    )


def _holds_a_model(path: Path) -> bool:
    return (path / "config.json").is_file() or (path / "checkpoint").is_dir()


__all__ = ["ZOO", "CheckpointError", "resolve", "zoo_models"]
