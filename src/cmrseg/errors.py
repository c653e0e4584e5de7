"""Errors raised for bad user input.

Every message names the offending file (when there is one), what is wrong and what to do.
"""

from __future__ import annotations

from pathlib import Path


class CmrsegError(Exception):
    """Base class of all cmrseg errors."""


class InputError(CmrsegError, ValueError):
    """A file, folder or array given by the user cannot be used as it is.

    Args:
        problem: what is wrong, in one sentence.
        path: the offending file or folder, if any.
        hint: what the user can do about it.
    """

    def __init__(self, problem: str, path: str | Path | None = None, hint: str | None = None) -> None:
        self.problem = problem
        self.path = None if path is None else Path(path)
        self.hint = hint
        where = f"{self.path}: " if self.path is not None else ""
        what_to_do = f" Fix: {hint}" if hint else ""
        super().__init__(f"{where}{problem}{what_to_do}")


class ConfigError(CmrsegError, ValueError):
    """A configuration file or option is invalid."""
