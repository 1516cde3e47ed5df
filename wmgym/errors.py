"""Errors a user can act on, shared by several layers (no heavy imports here).

Each says what went wrong and what to do. All derive from `WmgymError`, so a front end can print
the message instead of a traceback, and from ``ValueError`` (a bad argument, folder or setting is
the cause of each), so code that caught ``ValueError`` before keeps working.
"""


class WmgymError(ValueError):
    """An error whose message tells the user what to do; print it, not a traceback."""


class CheckpointError(WmgymError):
    """A checkpoint is missing, damaged, cannot be saved, or does not fit what it is loaded for."""


class RunFolderError(WmgymError):
    """A training run folder cannot be used: not a wmgym run, in use, or asked to resume differently."""


class TrainingDivergedError(WmgymError):
    """Training produced a non-finite loss or gradient (the last good checkpoint is kept)."""


class DeviceError(WmgymError):
    """The requested torch device does not exist on this machine."""


class NoTruthError(WmgymError):
    """The task has no MuJoCo env (a team's own recorded data), so what needs one cannot run."""
