"""Intra-subject ED/ES slice pairs for training registration networks.

Slice ``z`` of the ED volume corresponds to slice ``z`` of the ES volume (same short-axis stack, only the
cardiac phase differs), so a training pair is ``(patient, z, direction)``; both directions are drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from cmrseg.axes import shape_text
from cmrseg.data.preprocess import Preprocessed
from cmrseg.data.streams import _crop, valid_mask
from cmrseg.errors import InputError
from cmrseg.transforms.intensity import intensity_augment
from cmrseg.transforms.spatial import affine_warp, sample_affine


@dataclass
class PhasePair:
    """ED and ES of one patient on the same preprocessed grid; labels may be ``None`` (unlabelled)."""

    patient: str
    ed: Preprocessed
    es: Preprocessed

    def __post_init__(self) -> None:
        if self.ed.image.shape != self.es.image.shape:
            raise InputError(f"{self.patient}: ED {shape_text(self.ed.image.shape)} and ES "
                             f"{shape_text(self.es.image.shape)} volumes differ; slice z of ED must correspond to "
                             "slice z of ES",
                             None, "use ED/ES frames of the same cine stack")

    @property
    def labelled(self) -> bool:
        return self.ed.label is not None and self.es.label is not None


def phase_pairs(refs: list[Any]) -> list[tuple[str, Any, Any]]:
    """Group :class:`CaseRef` s into ``(patient, ED ref, ES ref)``; patients without both phases are skipped."""
    by_patient: dict[str, dict[str, Any]] = {}
    for r in refs:
        if r.phase in ("ED", "ES"):
            by_patient.setdefault(r.patient, {})[r.phase] = r
    return [(p, d["ED"], d["ES"]) for p, d in sorted(by_patient.items()) if {"ED", "ES"} <= set(d)]


class PairStream:
    """Endless batches of paired slices: ``{"moving", "fixed": (B,1,P,P), "moving_label", "fixed_label":
    (B,P,P) long (zeros when unlabelled), "has_label": (B,) bool, "valid": (B,1,P,P)}``.

    Patches of ``patch`` px are centred on the heart (centroid of the union of both frames' labels, jittered)
    for labelled pairs and on the field of view's centre otherwise. Augmentation (when ``spatial``/``intensity``
    configs are given) is *paired*: the same random affine and intensity change for both frames, so the
    motion between them is kept; hence ``augment = False`` tells the engine not to augment again.

    Args:
        pairs: ED/ES volumes per patient.
        batch_size: pairs per batch.
        patch: patch side in px (``None`` = whole field of view).
        jitter: max shift of the patch centre in px.
        spatial, intensity: augmentation configs (``None`` = no augmentation).
        seed: sampling seed (``rng`` is saved in checkpoints for exact resume).
    """

    augment = False

    def __init__(self, pairs: list[PhasePair], batch_size: int, patch: int | None = 128, jitter: int = 16,
                 spatial: Any = None, intensity: Any = None, seed: int = 0) -> None:
        if not pairs:
            raise ValueError("cannot build a pair stream from zero ED/ES pairs")
        self.pairs, self.batch_size, self.patch, self.jitter = pairs, batch_size, patch, jitter
        self.spatial, self.intensity = spatial, intensity
        self.rng = np.random.default_rng(seed)
        self.index = np.array([(i, z) for i, p in enumerate(pairs) for z in range(p.ed.image.shape[0])],
                              dtype=np.int64).reshape(-1, 2)
        self.valid = [valid_mask(p.ed) * valid_mask(p.es) for p in pairs]
        self.centres = [self._volume_centre(p) for p in pairs]

    @staticmethod
    def _volume_centre(p: PhasePair) -> tuple[int, int]:
        size = p.ed.image.shape[-1]
        if p.labelled:
            fg = (p.ed.label > 0).any(0) | (p.es.label > 0).any(0)
            if fg.any():
                ys, xs = np.nonzero(fg)
                return int(ys.mean()), int(xs.mean())
        return size // 2, size // 2

    def __iter__(self) -> "PairStream":
        return self

    def _centre(self, i: int, z: int) -> tuple[int, int]:
        p = self.pairs[i]
        cy, cx = self.centres[i]
        if p.labelled:
            fg = (p.ed.label[z] > 0) | (p.es.label[z] > 0)
            if fg.any():
                ys, xs = np.nonzero(fg)
                cy, cx = int(ys.mean()), int(xs.mean())
        j = self.jitter
        return cy + int(self.rng.integers(-j, j + 1)), cx + int(self.rng.integers(-j, j + 1))

    def __next__(self) -> dict[str, torch.Tensor]:
        picks = self.index[self.rng.integers(0, len(self.index), self.batch_size)]
        swaps = self.rng.random(self.batch_size) < 0.5
        images, labels, valid, has = [], [], [], []
        for (i, z), swap in zip(picks, swaps):
            p = self.pairs[i]
            size = self.patch or p.ed.image.shape[-1]
            cy, cx = self._centre(i, z) if self.patch else (p.ed.image.shape[-2] // 2, p.ed.image.shape[-1] // 2)
            frames = (p.es, p.ed) if swap else (p.ed, p.es)  # (moving, fixed)
            images.append([_crop(f.image[z], cy, cx, size) for f in frames])
            labels.append([_crop(f.label[z], cy, cx, size) if p.labelled else np.zeros((size, size), np.uint8)
                           for f in frames])
            valid.append(_crop(self.valid[i], cy, cx, size))
            has.append(p.labelled)
        img = torch.from_numpy(np.asarray(images, dtype=np.float32))  # (B, 2, P, P)
        lab = torch.from_numpy(np.asarray(labels, dtype=np.float32))
        val = torch.from_numpy(np.asarray(valid, dtype=np.float32))[:, None]
        if self.spatial is not None or self.intensity is not None:
            gen = torch.Generator().manual_seed(int(self.rng.integers(2**62)))
            if self.spatial is not None:
                theta = sample_affine(len(img), self.spatial, gen)
                img, lab = affine_warp(img, theta), affine_warp(lab, theta, mode="nearest")
                val = affine_warp(val, theta, mode="nearest")
            if self.intensity is not None:  # one call on both channels = the same parameters for both frames
                img = intensity_augment(img, self.intensity, gen)
        return {"moving": img[:, :1].contiguous(), "fixed": img[:, 1:].contiguous(),
                "moving_label": lab[:, 0].long(), "fixed_label": lab[:, 1].long(),
                "has_label": torch.tensor(has), "valid": val}
