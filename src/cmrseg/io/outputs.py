"""Output locations checked before any work: a folder that is a file, a path that cannot be created or written
is a specific error up front, never a traceback after minutes of computing or a half-written result."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cmrseg.errors import InputError


def prepare_output_dir(path: str | Path, what: str = "output folder", keep: bool = False) -> Path:
    """Check that ``path`` can be created as a writable folder, or raise :class:`InputError` saying why not.

    The check creates the folders it needs and a probe file, then removes what it created (``keep=False``), so a
    run that fails later on bad input leaves no empty output folder behind."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"the {what} must be a folder, but a file of that name exists", path,
                         "choose another output path, or remove the file")
    missing = [p for p in (path, *path.parents) if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".cmrseg-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"cannot write the {what} ({exc.strerror or type(exc).__name__})", path,
                         "choose a location you can write to") from None
    finally:
        if not keep:
            for p in missing:  # deepest first
                try:
                    p.rmdir()
                except OSError:
                    break
    return path


def prepare_output_file(path: str | Path, what: str = "output file") -> Path:
    """Make sure ``path`` can be written as a file (its folder exists and is writable, it is not a folder)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"the {what} names an existing folder", path, "name a file (e.g. out/label.nii.gz) or "
                         "pass several inputs to write into a folder")
    prepare_output_dir(path.parent, f"folder of the {what}")
    return path
