"""Output folders of ``wmgym adapt`` and ``wmgym gap``: used only if new, empty, or written by the same
command before (its JSON file carries ``{"wmgym": KIND}``, the convention of calibration cards and run
folders), so a user's files are never overwritten."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from wmgym.jsonfile import written_by


def check_out(out: Path, marker: str, kind: str) -> None:
    """Refuse ``out`` unless it is missing, empty, or holds ``marker`` written by ``wmgym {kind}``.

    Raises:
        FileExistsError: ``out`` is a file, or a folder that ``wmgym {kind}`` did not write.
    """
    out = Path(out)
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    if out.is_dir() and written_by(out / marker, kind):
        return
    raise FileExistsError(
        f"{out} exists and is not an earlier `wmgym {kind}` folder (no {marker} written by wmgym); refusing to "
        "overwrite what is there. Choose another --out (or remove that folder yourself)."
    )


def write_json(file: Path, obj: dict) -> dict:
    """Write ``obj`` as indented JSON (numpy scalars as numbers, non-finite floats as null); returns
    it as written (what reading the file back gives)."""
    obj = jsonable(obj)
    Path(file).write_text(json.dumps(obj, indent=2) + "\n")
    return obj


def jsonable(x):
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, Path):
        return str(x)
    return x
