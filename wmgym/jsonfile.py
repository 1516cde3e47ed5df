"""Reading the small JSON files wmgym writes beside its outputs (run markers, configs, cards). Loads
nothing but the standard library, so any layer may use it."""

from __future__ import annotations

import json
from pathlib import Path


def read_object(file: str | Path) -> dict:
    """The JSON object in ``file``, or {} if it is missing, unreadable, torn by a crash, or not an object."""
    try:
        obj = json.loads(Path(file).read_text())
    except (OSError, ValueError):
        return {}
    return obj if isinstance(obj, dict) else {}


def written_by(file: str | Path, kind: str) -> bool:
    """Whether ``file`` is a marker that ``wmgym {kind}`` wrote (``{"wmgym": kind, ...}``)."""
    return read_object(file).get("wmgym") == kind
