"""Data streams: endless batches of 2D patches from preprocessed volumes.

A method declares which streams it consumes (``labelled``, ``unlabelled``, later ``unpaired_labels``...);
the engine draws one batch per stream per iteration. Patches are cropped with a foreground bias so that
small structures (apical slices) are seen often enough.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cmrseg.data.preprocess import Preprocessed
from cmrseg.labels import UNANNOTATED


@dataclass
class SliceBank:
    """All slices of a set of preprocessed volumes, kept in memory as one array per volume."""

    volumes: list[Preprocessed]
    case_ids: list[str]

    def __post_init__(self) -> None:
        self.valid = [valid_mask(v) for v in self.volumes]
        self.extent = [label_extent(v.label) for v in self.volumes]
        self.index = np.array([(v, z) for v, vol in enumerate(self.volumes) for z in range(vol.image.shape[0])],
                              dtype=np.int64).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def has_labels(self) -> bool:
        return bool(self.volumes) and all(v.label is not None for v in self.volumes)


def valid_mask(vol: Preprocessed) -> np.ndarray:
    """``(fov, fov)`` uint8 mask of the canvas pixels that hold image data (1) rather than padding (0)."""
    size = vol.image.shape[-1]
    (h, w), (oy, ox) = vol.geometry.resampled_yx, vol.geometry.offset_yx
    m = np.zeros((size, size), np.uint8)
    m[max(0, oy) : min(size, oy + h), max(0, ox) : min(size, ox + w)] = 1
    return m


def label_extent(label: np.ndarray | None) -> tuple[int, int] | None:
    """First and last slice index holding a structure label (the heart's extent, base..apex), or None if there is
    none (scribble code 4 = not annotated does not count)."""
    if label is None:
        return None
    fg = (label > 0) & (label != UNANNOTATED)
    z = np.flatnonzero(fg.reshape(label.shape[0], -1).any(1))
    return (int(z[0]), int(z[-1])) if z.size else None


def label_position(z: int, extent: tuple[int, int] | None, nz: int) -> float:
    """Slice position normalised to the labelled extent: first labelled slice 0, last 1, clipped outside.

    A single labelled slice gives 0.5 there; without labels, ``z / (nz - 1)`` (the volume's extent).
    """
    if extent is None:
        return z / max(1, nz - 1)
    first, last = extent
    if last == first:
        return 0.0 if z < first else 1.0 if z > first else 0.5
    return float(min(1.0, max(0.0, (z - first) / (last - first))))


def _crop(a: np.ndarray, cy: int, cx: int, size: int) -> np.ndarray:
    h, w = a.shape
    out = np.zeros((size, size), dtype=a.dtype)
    y0, x0 = cy - size // 2, cx - size // 2
    ys, xs = max(0, y0), max(0, x0)
    ye, xe = min(h, y0 + size), min(w, x0 + size)
    out[ys - y0 : ye - y0, xs - x0 : xe - x0] = a[ys:ye, xs:xe]
    return out


class PatchStream:
    """Endless iterator of ``{"image": (B,1,P,P), "label": (B,P,P) long | absent, "valid": (B,1,P,P),
    "slice_position": (B,), "label_position": (B,) | absent}`` batches; ``valid`` is 1 on real image pixels,
    0 on crop/pad padding. ``slice_position`` = z / (nz - 1); ``label_position`` (labelled streams only) =
    position within the volume's labelled extent (:func:`label_position`), the SCN regression target.

    Args:
        bank: slices to sample from.
        batch_size: patches per batch.
        patch: patch side in px (``None`` = whole field of view).
        foreground_p: probability of centring a patch on a random foreground pixel (labelled banks).
        with_labels: return labels (``False`` for unlabelled streams even if labels exist on disk).
        seed: sampling seed.
    """

    def __init__(self, bank: SliceBank, batch_size: int, patch: int | None = 128, foreground_p: float = 0.67,
                 with_labels: bool = True, seed: int = 0) -> None:
        if len(bank) == 0:
            raise ValueError("cannot build a data stream from zero slices")
        self.bank, self.batch_size, self.patch = bank, batch_size, patch
        self.foreground_p = foreground_p
        self.with_labels = with_labels and bank.has_labels
        self.rng = np.random.default_rng(seed)

    def __iter__(self) -> "PatchStream":
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        picks = self.bank.index[self.rng.integers(0, len(self.bank), self.batch_size)]
        images, labels, positions, valid, lab_positions = [], [], [], [], []
        for v, z in picks:
            vol = self.bank.volumes[v]
            img = vol.image[z]
            size = self.patch or img.shape[0]
            lab = vol.label[z] if (vol.label is not None) else None
            h, w = img.shape
            if lab is not None and self.rng.random() < self.foreground_p and lab.any():
                ys, xs = np.nonzero(lab)
                i = self.rng.integers(len(ys))
                cy, cx = int(ys[i]), int(xs[i])
            elif size >= h:
                cy, cx = h // 2, w // 2
            else:
                cy = int(self.rng.integers(size // 2, h - size // 2 + 1))
                cx = int(self.rng.integers(size // 2, w - size // 2 + 1))
            images.append(_crop(img, cy, cx, size))
            valid.append(_crop(self.bank.valid[v], cy, cx, size))
            if self.with_labels:
                labels.append(_crop(lab, cy, cx, size))
                lab_positions.append(label_position(int(z), self.bank.extent[v], vol.image.shape[0]))
            positions.append(z / max(1, vol.image.shape[0] - 1))
        batch = {"image": torch.from_numpy(np.stack(images))[:, None],
                 "slice_position": torch.tensor(positions, dtype=torch.float32),
                 "valid": torch.from_numpy(np.stack(valid).astype(np.float32))[:, None]}
        if self.with_labels:
            batch["label"] = torch.from_numpy(np.stack(labels).astype(np.int64))
            batch["label_position"] = torch.tensor(lab_positions, dtype=torch.float32)
        return batch
