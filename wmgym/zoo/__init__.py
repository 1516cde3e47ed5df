"""The models shipped in the package (``wmgym/zoo/<name>/``), and finding a model by name or folder.

Light on purpose: ``import wmgym`` lists the zoo to register its dream ids without loading torch.
Packing a checkpoint into the zoo is `wmgym.zoo.export`.
"""

from __future__ import annotations

from pathlib import Path

from wmgym.errors import CheckpointError

ZOO = Path(__file__).parent


def zoo_models() -> list[str]:
    """Names of the models shipped in the package (``wmgym/zoo/<name>/``)."""
    return sorted(p.name for p in ZOO.iterdir() if (p / "config.json").is_file())


def resolve(model: str | Path) -> Path:
    """A zoo name or a checkpoint folder (a run folder works too) -> the folder with config.json."""
    path = Path(model)
    for candidate in (path, path / "checkpoint"):
        if (candidate / "config.json").is_file():
            return candidate
    if str(model) in zoo_models():
        return ZOO / str(model)
    names = ", ".join(zoo_models()) or "none shipped yet"
    raise CheckpointError(
        f"no model {str(model)!r}: not a zoo name ({names}) and not a checkpoint folder with config.json"
    )


__all__ = ["ZOO", "CheckpointError", "resolve", "zoo_models"]
