"""Models that ship with the package: weights as package data with a SHA-256 checksum and a model card.

``cmrseg predict`` without ``-c`` uses :func:`default_model`; ``cmrseg models`` lists :func:`shipped_models`.
Each model is ``cmrseg/shipped/<name>.pt`` (a cmrseg checkpoint, half-precision weights, no optimiser state)
beside ``<name>.json`` (its card: training data and licence, numbers with their protocol, intended use, known
failure modes, and the checksum the weights must match before they are used).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmrseg.errors import InputError

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "shipped"
DEFAULT = "acdc_unet_robust"


@dataclass(frozen=True)
class ShippedModel:
    name: str
    weights: Path
    card: dict[str, Any]

    @property
    def summary(self) -> str:
        return str(self.card.get("summary", ""))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def shipped_models(folder: Path = SHIPPED_DIR) -> list[ShippedModel]:
    """The models in ``folder`` (every ``<name>.json`` card with its ``<name>.pt``)."""
    out = []
    for card_path in sorted(folder.glob("*.json")):
        card = json.loads(card_path.read_text(encoding="utf-8"))
        out.append(ShippedModel(card_path.stem, card_path.with_suffix(".pt"), card))
    return out


def verified_weights(model: ShippedModel) -> Path:
    """The model's weights file, after checking it against the card's checksum (a corrupt or replaced file is
    refused, never used)."""
    if not model.weights.is_file():
        raise InputError("the shipped model's weights are missing from the installed package", model.weights,
                         "reinstall cmrseg (pip install --force-reinstall), or pass a checkpoint with -c")
    expected = model.card.get("sha256")
    if sha256(model.weights) != expected:
        raise InputError(f"the shipped model's weights do not match their checksum ({expected})", model.weights,
                         "reinstall cmrseg, or pass a checkpoint with -c")
    return model.weights


def default_model(folder: Path = SHIPPED_DIR) -> Path:
    """The verified weights of the default shipped model."""
    models = {m.name: m for m in shipped_models(folder)}
    if DEFAULT not in models:
        raise InputError(f"no shipped model '{DEFAULT}' in this installation (found: {sorted(models) or 'none'})",
                         folder, "pass a checkpoint with -c (runs/<name>/checkpoints/best.pt)")
    return verified_weights(models[DEFAULT])
