"""Helpers shared by test modules (a module with its own name: several folders have a ``conftest``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cmrseg.labels import LV, MYO, RV

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def tiny_overrides(root: Path, out: Path, name: str = "t") -> list[str]:
    """A config that trains in seconds: small net, small patches, few iterations."""
    return [f"data.root={root}", f"data.cache_dir={out / 'cache'}", f"train.out_dir={out / 'runs'}",
            f"train.name={name}", "data.preprocess.fov_px=96", "data.preprocess.target_spacing=2.5",
            "data.patch=64", "model.params={features: [4, 8, 16]}", "optim.batch_size=4",
            "optim.iterations=4", "optim.warmup=1", "train.val_every=2", "train.progress=false",
            "train.threads=1"]


def assert_resume_equals_uninterrupted(base: list[str]) -> None:
    """Train ``base`` straight through and interrupted after one iteration + resumed: same final weights."""
    import torch

    from cmrseg.config import load_config
    from cmrseg.engine import train
    from cmrseg.checkpoint import load_checkpoint

    full = train(load_config(None, base + ["train.name=full"]))
    train(load_config(None, base + ["train.name=part", "train.max_minutes=0"]))  # stops after 1 iteration
    part = train(load_config(None, base + ["train.name=part"]), resume=True)
    a = load_checkpoint(full / "checkpoints" / "last.pt")["model_state"]
    b = load_checkpoint(part / "checkpoints" / "last.pt")["model_state"]
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-5), k


def heart_maps(n: int = 16, size: int = 48) -> torch.Tensor:
    """``(n, size, size)`` cardiac-like label maps: LV disc in a myocardial ring, RV crescent beside it, at random
    offsets."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    maps = np.zeros((n, size, size), np.int64)
    for i in range(n):
        cy, cx = rng.integers(18, 30, 2)
        r = np.hypot(yy - cy, xx - cx)
        maps[i][np.hypot(yy - cy, xx - cx + 12) < 9] = RV
        maps[i][r < 9] = MYO
        maps[i][r < 6] = LV
    return torch.from_numpy(maps)


def engine_term(loss, outputs: dict, batch: dict):  # type: ignore[no-untyped-def]
    """What the engine does with one term per step: update the networks the loss trains, then its value.
    Returns (value, the discriminator's loss or None)."""
    from cmrseg.engine.step import update_auxiliaries

    logs: dict[str, float] = {}
    update_auxiliaries(loss, outputs, batch, "term", logs)
    return loss(outputs, batch), logs.get("loss/term_discriminator")
