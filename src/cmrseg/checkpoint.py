"""The checkpoint layer: self-describing checkpoints (weights + the full resolved run config), read and written
in one place.

Saved with ``torch.save`` as plain dicts of tensors and JSON-like values, so they load with
``torch.load(weights_only=True)`` (no pickled code is ever executed on load). Checkpoints of older versions are
upgraded to the current layout by :func:`upgrade` when read, nowhere else. This module imports nothing of the
package but its errors, so every layer may use it; building a network from a checkpoint is
:func:`cmrseg.models.pretrained.load_pretrained`.

Layout (``format: cmrseg-checkpoint-v1``): ``model_state``, ``config`` (the run config as a dict), and for
resumable checkpoints ``iteration``, ``best_metric``, ``optimizer_state``, ``networks`` (the state of every
auxiliary network the engine trains beside the model, e.g. discriminators with their optimisers), RNG states
and ``elapsed_minutes``.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from cmrseg.errors import InputError

FORMAT = "cmrseg-checkpoint-v1"


def save_checkpoint(path: str | Path, model: nn.Module, config: dict[str, Any], **extra: Any) -> None:
    """Atomically write a checkpoint; ``config`` is the resolved run config (``Config.model_dump``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "model_state": model.state_dict(), "config": config, **extra}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; outputs are meant to be shared like any written file
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:  # no half-written file left behind (disk full, interrupt)
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a cmrseg checkpoint (tensors and plain values only), upgraded to the current layout."""
    path = Path(path)
    if not path.is_file():
        raise InputError("checkpoint file does not exist" if not path.exists() else "checkpoint path is not a file",
                         path, "pass runs/<name>/checkpoints/best.pt")
    if path.stat().st_size == 0:
        raise InputError("checkpoint file is empty (0 bytes)", path, "re-copy it or pass another checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure here means an unusable file
        msg = str(exc)
        if isinstance(exc, pickle.UnpicklingError) and ("Unsupported" in msg or "Weights only" in msg):
            # weights_only refused a global (class/function) that is not a tensor or plain value
            detail = next((ln.strip().split(". Please")[0] for ln in msg.splitlines() if "Unsupported" in ln),
                          type(exc).__name__)
            raise InputError("checkpoint holds pickled Python objects other than tensors and plain values; refused "
                             "without running them, because unpickling them could execute arbitrary code "
                             f"({detail})", path, "use a checkpoint written by cmrseg; never load untrusted .pt "
                             "files with weights_only=False") from exc
        raise InputError(f"cannot load checkpoint: not a PyTorch checkpoint, or corrupt or truncated "
                         f"({type(exc).__name__}: {msg.splitlines()[0][:200] if msg else ''})", path,
                         "use a checkpoint written by cmrseg (runs/<name>/checkpoints/best.pt); re-copy it") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise InputError("not a cmrseg checkpoint (missing format tag)", path,
                         "pass a checkpoint written by `cmrseg train` (runs/<name>/checkpoints/best.pt)")
    return upgrade(ckpt)


def upgrade(ckpt: dict[str, Any]) -> dict[str, Any]:
    """Bring a checkpoint of an older version to the current layout (in place; returns it).

    * ``loss_states`` (``{"<term index>:<loss>": {"discriminator": ..., "optimizer": ...}}``, written when losses
      owned their discriminators) -> ``networks`` (``{"<term index>:<loss>.discriminator": {"module": ...,
      "optimizer": ...}}``, the engine's auxiliary networks).
    """
    old = ckpt.pop("loss_states", None)
    if old is not None and "networks" not in ckpt:
        ckpt["networks"] = {f"{key}.discriminator": {"module": s["discriminator"], "optimizer": s["optimizer"]}
                            for key, s in old.items()}
    return ckpt
