"""The run folder (``wmgym train --out RUN``): claimed only if it is new, empty or a wmgym run, and
locked while a trainer uses it.

A run folder holds ``config.json`` (marked with `wmgym.checkpoint.RUN_KEY`), ``checkpoint/``,
``tensorboard/`` and the lock file. A folder holding anything else (a dataset, the user's own
config.json, a checkpoint folder) is refused before anything is written into it. The lock is an
``fcntl.flock`` on ``RUN/.wmgym-train.lock``, held for the whole training and released by the kernel
when the process ends, however it ends (local file systems; NFS may not honour it).
"""

from __future__ import annotations

import errno
import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from wmgym import checkpoint
from wmgym.errors import RunFolderError

LOCK = ".wmgym-train.lock"
OWN = (LOCK, f".{checkpoint.CONFIG}.tmp")
"""What a run folder may hold before its config.json exists (a crash can leave them)."""


@contextmanager
def claim(out: Path):
    """Check that ``out`` may be a run folder, create it, lock it and settle a save a crash
    interrupted; yields a note of what was recovered (or None). Raises `RunFolderError`."""
    out = Path(out)
    check_out_folder(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise RunFolderError(f"cannot use {out} as the run folder: {e.strerror} ({e.filename})") from e
    try:
        _lock(fd, out)
        yield _recover(out)
    finally:
        os.close(fd)  # releases the lock


def check_out_folder(out: Path) -> None:
    """Raise `RunFolderError` unless ``out`` is missing, empty, or a wmgym run (then it resumes)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise RunFolderError(f"--out {out} is a file; give a folder for the run (new, empty, or an earlier run)")
    entries = sorted(p.name for p in out.iterdir() if p.name not in OWN)
    if not entries or checkpoint.is_run(out):
        return
    if checkpoint.is_checkpoint(out):
        hint = (
            f"it is a checkpoint: to resume its run pass the run folder ({out.parent}); to fine-tune it, "
            "pass it as init_from (--init-from) with a new --out"
        )
    else:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        hint = f"it holds {shown}"
    raise RunFolderError(
        f"--out {out} is not a wmgym run folder ({hint}); nothing was written to it. Choose a new or empty "
        "folder for the run, or an earlier run's folder to resume it"
    )


def _recover(out: Path) -> str | None:
    try:
        return checkpoint.recover(out / checkpoint.CHECKPOINT)
    except OSError as e:
        raise RunFolderError(f"cannot repair the checkpoint in {out} after a crash: {e.strerror} ({e.filename})") from e


def _lock(fd: int, out: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise RunFolderError(f"cannot lock the run folder {out}: {e.strerror}") from e
        pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        raise RunFolderError(
            f"another wmgym train is using {out} (pid {pid}); wait for it to finish or stop it, or choose another --out"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
