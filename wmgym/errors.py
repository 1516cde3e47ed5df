"""Errors a user can act on, shared by several layers (no heavy imports here)."""


class CheckpointError(ValueError):
    """A checkpoint is missing, damaged, or does not fit what it is loaded for."""
