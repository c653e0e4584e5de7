"""End-to-end prediction: read -> preprocess -> network -> restore to the input grid -> post-process -> write.

Each stage is timed (``Predictor.timings``) so the slowest one is visible.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nibabel as nib
import numpy as np
import torch

from cmrseg.data.case import Case
from cmrseg.data.preprocess import Preprocessed, PreprocessConfig, preprocess, restore_map, restore_probabilities
from cmrseg.device import resolve_device
from cmrseg.checkpoint import load_checkpoint
from cmrseg.models.pretrained import model_from_checkpoint
from cmrseg.errors import InputError
from cmrseg.inference.forward import predict_outputs
from cmrseg.postprocess import postprocess_label
from cmrseg.postprocess.config import PostprocessConfig
from cmrseg.postprocess.crf import crf_refine

if TYPE_CHECKING:
    from cmrseg.io.cine import Cine


@dataclass
class CinePrediction:
    """Label maps of a cine: ``labels`` ``(t, z, y, x)`` uint8 on the input grid (frames not in ``frames`` stay
    0), the segmented ``frames`` (0-based), and the wall time per frame (preprocess, network, restore,
    post-process) in seconds."""

    labels: np.ndarray
    frames: list[int]
    seconds_per_frame: float


@dataclass
class Prediction:
    label: np.ndarray  # (z, y, x) uint8 on the input grid
    probabilities: np.ndarray | None  # (C, z, y, x) float32 if requested
    bias: np.ndarray | None = None  # (z, y, x) estimated bias field, for models with a bias head
    raw_label: np.ndarray | None = None  # argmax before post-processing (for QC), when post-processing ran


class Predictor:
    """Segment volumes with a trained checkpoint; needs nothing but the checkpoint file.

    With ``crf`` (a :class:`~cmrseg.postprocess.crf.CRFConfig`), the network's probabilities are refined by a
    dense CRF on the *preprocessed* grid (``target_spacing`` in-plane, image already normalised, fixed
    ``fov_px`` size: cheaper and with the same pixel size for every input) before they are restored to the
    input grid and post-processed; ``return_probabilities`` then gives the refined marginals.

    ``device``: where the network runs (``cpu``, ``cuda``, ``auto``, ...; :mod:`cmrseg.device`); reading,
    pre- and post-processing stay on the CPU.

    Example:
        >>> p = Predictor.from_checkpoint("runs/acdc_sup70/checkpoints/best.pt")  # doctest: +SKIP
        >>> p.predict_file("patient001_frame01.nii.gz", "out/patient001_frame01.nii.gz")  # doctest: +SKIP
    """

    def __init__(self, model: torch.nn.Module, preprocess_cfg: PreprocessConfig,
                 post: PostprocessConfig | bool = True, batch: int = 2, threads: int | None = None,
                 channels_last: bool = True, device: str | torch.device = "cpu") -> None:
        # channels-last and small slice batches: measured ~1.5x faster on CPU (benchmarks/inference_speed.py)
        model = model.to(resolve_device(device) if isinstance(device, str) else device)
        self.model = (model.to(memory_format=torch.channels_last) if channels_last else model).eval()
        self.pre_cfg = preprocess_cfg
        self.post = post if isinstance(post, PostprocessConfig) else PostprocessConfig(enabled=bool(post))
        self.batch = batch
        if threads:
            torch.set_num_threads(threads)
        self.timings: dict[str, list[float]] = defaultdict(list)

    @classmethod
    def from_checkpoint(cls, path: str | Path | dict | Sequence[str | Path],
                        **kw) -> "Predictor":  # type: ignore[no-untyped-def]
        """``path``: a checkpoint file, a checkpoint dict already loaded (e.g. shipped to remote workers), or
        several checkpoint files: their mean probabilities (:class:`~cmrseg.models.ensemble.ProbabilityEnsemble`),
        which needs every member to preprocess alike."""
        if isinstance(path, (list, tuple)):
            if len(path) == 1:
                return cls.from_checkpoint(path[0], **kw)
            from cmrseg.models.ensemble import ProbabilityEnsemble

            ckpts = [load_checkpoint(p) for p in path]
            pres = [PreprocessConfig.model_validate(c["config"]["data"]["preprocess"]) for c in ckpts]
            for p, pre in zip(path[1:], pres[1:]):
                if pre != pres[0]:
                    raise InputError(f"ensemble member preprocesses differently from {path[0]}: {pre} vs {pres[0]}",
                                     p, "ensemble checkpoints trained with the same data.preprocess settings")
            return cls(ProbabilityEnsemble([model_from_checkpoint(c) for c in ckpts]), pres[0], **kw)
        ckpt = path if isinstance(path, dict) else load_checkpoint(path)
        pre = PreprocessConfig.model_validate(ckpt["config"]["data"]["preprocess"])
        return cls(model_from_checkpoint(ckpt), pre, **kw)

    def _tick(self, stage: str, t0: float) -> float:
        t = time.perf_counter()
        self.timings[stage].append(t - t0)
        return t

    def predict_case(self, case: Case, return_probabilities: bool = False) -> Prediction:
        pre = self.prepare(case)
        return self.finish(self.forward([pre.image])[0], pre, return_probabilities)

    def prepare(self, case: Case) -> Preprocessed:
        """Preprocess one case for the network (stage ``preprocess``)."""
        t = time.perf_counter()
        pre = preprocess(case.with_label(None), self.pre_cfg)
        self._tick("preprocess", t)
        return pre

    def forward(self, images: Sequence[np.ndarray]) -> list[dict[str, torch.Tensor]]:
        """Network outputs (see :func:`predict_outputs`) of several preprocessed volumes ``(z_i, H, W)``.

        Their slices are stacked and run in batches of ``self.batch`` that may span volumes (no short tail
        batch per volume, one call per group), then split back per volume. Stage ``network``, per volume.
        """
        t = time.perf_counter()
        sizes = [len(im) for im in images]
        out = predict_outputs(self.model, images[0] if len(images) == 1 else np.concatenate(images), self.batch)
        parts = [dict(zip(out, split)) for split in zip(*(torch.split(v, sizes) for v in out.values()))]
        per_volume = (time.perf_counter() - t) / len(images)
        self.timings["network"].extend([per_volume] * len(images))
        return parts

    def finish(self, outputs: dict[str, torch.Tensor], pre: Preprocessed,
               return_probabilities: bool = False) -> Prediction:
        """Network outputs of one volume -> label map on its input grid (stages crf, restore, postprocess)."""
        t = time.perf_counter()
        probs = outputs["probs"]
        if self.post.crf is not None:  # (z, C, H, W) <-> (C, z, H, W)
            refined = crf_refine(probs.permute(1, 0, 2, 3).numpy(), pre.image, pre.spacing[1:], self.post.crf)
            probs = torch.from_numpy(refined).permute(1, 0, 2, 3)
            t = self._tick("crf", t)
        full = restore_probabilities(probs, pre.geometry)
        bias = None
        if "bias" in outputs:  # outside the field of view b = 1 (no correction)
            bias = restore_map(outputs["bias"], pre.geometry, torch.ones(1, 1, 1))[:, 0].numpy().astype(np.float32)
        label = raw = full.argmax(1).numpy().astype(np.uint8)
        t = self._tick("restore", t)
        if self.post.enabled:
            g = pre.geometry  # in-plane spacing of the input grid the label map is on
            spacing_yx = tuple(s * r / o for s, r, o in zip(pre.spacing[1:], g.resampled_yx, g.original_yx))
            label = postprocess_label(raw, rv_within_mm=self.post.rv_within_mm, spacing_yx=spacing_yx,
                                      lv_enclosed=self.post.lv_enclosed)
            t = self._tick("postprocess", t)
        out_probs = full.permute(1, 0, 2, 3).numpy() if return_probabilities else None
        return Prediction(label, out_probs, bias, raw_label=raw if self.post.enabled else None)

    def predict_cine(self, cine: "Cine", frames: Sequence[int] | None = None, group: int = 8) -> CinePrediction:
        """Segment frames of a cine (default all) with this one model: ``group`` frames at a time are
        preprocessed and their slices share network batches (:meth:`forward`), then each is restored and
        post-processed on its own (a 3D volume, exactly as :meth:`predict_case`)."""
        n = cine.n_frames
        chosen = list(range(n)) if frames is None else [int(t) for t in frames]
        bad = [t for t in chosen if not 0 <= t < n]
        if bad or not chosen:
            raise InputError(f"frames {bad or chosen} are not time indices of this cine (0..{n - 1})", cine.source,
                             "choose frames that exist")
        labels = np.zeros(cine.image.shape, np.uint8)
        t0 = time.perf_counter()
        for i in range(0, len(chosen), max(1, group)):
            part = chosen[i : i + max(1, group)]
            pres = [self.prepare(cine.frame(t)) for t in part]
            for t, out, pre in zip(part, self.forward([p.image for p in pres]), pres):
                labels[t] = self.finish(out, pre).label
        return CinePrediction(labels, chosen, (time.perf_counter() - t0) / len(chosen))

    def predict_file(self, src: str | Path, dst: str | Path, save_bias: bool = False, case: Case | None = None) -> Path:
        """Predict one 3D NIfTI file or DICOM folder and write the label map on the input's grid and header
        (shape, affine, qform/sform codes; a DICOM series: scanner coordinates, codes 1).

        With ``save_bias`` and a bias-field model, also writes ``<dst stem>_bias.nii.gz`` (float32). A cine
        (4D NIfTI, multi-phase DICOM) goes through :func:`cmrseg.inference.cine.predict_cine_file` instead.
        ``case``: ``src`` already read (it is then not read again).
        """
        from cmrseg.io import read_volume
        from cmrseg.io.nifti import is_nifti, write_nifti

        t = time.perf_counter()
        case = read_volume(src) if case is None else case
        header = nib.load(str(src)).header if Path(src).is_file() and is_nifti(src) else None
        geometry = {"header": header} if header is not None else {"codes": (1, 1)}
        self._tick("read", t)
        pred = self.predict_case(case)
        t = time.perf_counter()
        write_nifti(pred.label, case.affine, dst, **geometry)
        if save_bias and pred.bias is not None:
            from cmrseg.io.nifti import strip_nifti_suffix

            dst = Path(dst)
            write_nifti(pred.bias, case.affine, dst.with_name(f"{strip_nifti_suffix(dst.name)}_bias.nii.gz"),
                        **geometry)
        self._tick("write", t)
        return Path(dst)

    def timing_summary(self) -> dict[str, float]:
        """Mean seconds per volume for each stage."""
        return {k: float(np.mean(v)) for k, v in self.timings.items()}
