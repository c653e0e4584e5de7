"""One interface for every registration method, and label warping that respects it.

``Registrator.register(moving, fixed)`` takes two preprocessed volumes ``(z, H, W)`` (or single slices
``(H, W)``) on the same grid and returns a displacement ``(z, 2, H, W)`` in pixels, channels ``(dy, dx)``, on
the fixed grid, with ``warped(p) = moving(p + d(p))`` (VoxelMorph's and ITK's convention). Registration is 2D
per slice: short-axis slices are 5-10 mm apart, and slice z of ED corresponds to slice z of ES.

* ``identity``: no motion (the lower bound every method must beat);
* ``demons``: SimpleITK diffeomorphic demons (Vercauteren et al., NeuroImage 2009), coarse to fine;
* ``learned``: a trained ``vxm-2d`` checkpoint (VoxelMorph).

Labels are warped as one-hot maps with bilinear interpolation, then arg-maxed (:func:`warp_labels`): nearest
neighbour on integer codes would make jagged, shifted boundaries.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cmrseg.axes import shape_text
from cmrseg.data.preprocess import PreprocessConfig
from cmrseg.device import module_device
from cmrseg.errors import InputError
from cmrseg.labels import NUM_CLASSES
from cmrseg.models.registration import jacobian_determinant, warp
from cmrseg.models.registry import look_up


def _as_volume(a: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise InputError(f"{what} must be a slice (y, x) or a volume (z, y, x); got {shape_text(a.shape)}", None,
                         "pass preprocessed arrays (cmrseg.data.preprocess)")
    return a


class Registrator(ABC):
    """Base class: ``register(moving, fixed) -> displacement``; ``preprocess`` is the grid it expects."""

    name = "base"
    preprocess: PreprocessConfig = PreprocessConfig()

    def register(self, moving: np.ndarray, fixed: np.ndarray) -> np.ndarray:
        """Displacement ``(z, 2, H, W)`` (px, ``(dy, dx)``, fixed grid) taking ``moving`` onto ``fixed``."""
        m, f = _as_volume(moving, "moving image"), _as_volume(fixed, "fixed image")
        if m.shape != f.shape:
            raise InputError(f"moving ({shape_text(m.shape)}) and fixed ({shape_text(f.shape)}) images differ in shape",
                             None,
                             "register frames of the same stack, preprocessed with the same settings")
        return self._register(m, f).astype(np.float32)

    @abstractmethod
    def _register(self, moving: np.ndarray, fixed: np.ndarray) -> np.ndarray: ...


class IdentityRegistrator(Registrator):
    """No registration: the zero displacement."""

    name = "identity"

    def _register(self, moving: np.ndarray, fixed: np.ndarray) -> np.ndarray:
        return np.zeros((moving.shape[0], 2, *moving.shape[1:]), np.float32)


class DemonsRegistrator(Registrator):
    """SimpleITK demons per slice, coarse to fine (each level starts from the upsampled coarser field).

    Args:
        variant: ``"diffeomorphic"`` (DiffeomorphicDemonsRegistrationFilter) or ``"symmetric"``
            (FastSymmetricForcesDemonsRegistrationFilter).
        shrink: shrink factor per level, coarse to fine.
        iterations: iterations per level.
        sigma: Gaussian smoothing of the displacement field (px of the full grid; "diffusion" regulariser).
        update_sigma: Gaussian smoothing of each update (px; "fluid" regulariser), 0 = off.
        threads: ITK threads while registering (1: the machine is shared; ``None`` = ITK's default).
    """

    name = "demons"

    def __init__(self, variant: str = "diffeomorphic", shrink: tuple[int, ...] = (4, 2, 1),
                 iterations: tuple[int, ...] = (60, 40, 20), sigma: float = 1.5, update_sigma: float = 0.0,
                 threads: int | None = 1) -> None:
        if len(shrink) != len(iterations):
            raise ValueError(f"shrink {shrink} and iterations {iterations} need one entry per level")
        self.variant, self.shrink, self.iterations = variant, tuple(shrink), tuple(iterations)
        self.sigma, self.update_sigma, self.threads = sigma, update_sigma, threads

    def _filter(self, iterations: int) -> Any:
        import SimpleITK as sitk

        filters = {"diffeomorphic": sitk.DiffeomorphicDemonsRegistrationFilter,
                   "symmetric": sitk.FastSymmetricForcesDemonsRegistrationFilter}
        f = look_up(self.variant, filters, "demons variant")()
        f.SetNumberOfIterations(iterations)
        f.SetStandardDeviations(self.sigma)
        f.SetSmoothDisplacementField(True)
        if self.update_sigma > 0:
            f.SetSmoothUpdateField(True)
            f.SetUpdateFieldStandardDeviations(self.update_sigma)
        return f

    def register_slice(self, moving: np.ndarray, fixed: np.ndarray) -> np.ndarray:
        """One 2D pair -> ``(2, H, W)``."""
        import SimpleITK as sitk

        fix, mov = sitk.GetImageFromArray(fixed), sitk.GetImageFromArray(moving)  # spacing 1 = grid pixels
        field = None
        for factor, iters in zip(self.shrink, self.iterations):
            if factor > 1:
                smooth = lambda im: sitk.SmoothingRecursiveGaussian(im, 0.5 * factor)  # noqa: E731
                f_l, m_l = sitk.Shrink(smooth(fix), [factor] * 2), sitk.Shrink(smooth(mov), [factor] * 2)
            else:
                f_l, m_l = fix, mov
            init = (sitk.Image(f_l.GetSize(), sitk.sitkVectorFloat64, 2) if field is None else
                    sitk.Resample(field, f_l, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkVectorFloat64))
            init.CopyInformation(f_l)
            field = self._filter(iters).Execute(f_l, m_l, init)
        arr = sitk.GetArrayFromImage(field)  # (H, W, 2), components (x, y) in pixels of the full grid
        return np.ascontiguousarray(arr[..., ::-1].transpose(2, 0, 1))

    def _register(self, moving: np.ndarray, fixed: np.ndarray) -> np.ndarray:
        import SimpleITK as sitk

        po = sitk.ProcessObject
        before = po.GetGlobalDefaultNumberOfThreads()
        if self.threads:
            po.SetGlobalDefaultNumberOfThreads(self.threads)
        try:
            return np.stack([self.register_slice(m, f) for m, f in zip(moving, fixed)])
        finally:
            po.SetGlobalDefaultNumberOfThreads(before)


@torch.no_grad()
def predict_displacement(model: torch.nn.Module, moving: np.ndarray, fixed: np.ndarray, batch: int = 4,
                         symmetric: bool = False) -> np.ndarray:
    """Run a registration network slice-wise over ``(z, H, W)`` volumes -> ``(z, 2, H, W)``.

    ``symmetric``: the model's inverse-consistent estimate (``symmetric_displacement``, two passes).
    """
    was_training = model.training
    model.eval()
    m = torch.from_numpy(_as_volume(moving, "moving"))[:, None]
    f = torch.from_numpy(_as_volume(fixed, "fixed"))[:, None]
    run = model.symmetric_displacement if symmetric else (lambda a, b: model(a, b)["disp"])
    dev = module_device(model)
    out = [run(m[i:i + batch].to(dev), f[i:i + batch].to(dev)).cpu() for i in range(0, len(m), batch)]
    model.train(was_training)
    return torch.cat(out).numpy()


class LearnedRegistrator(Registrator):
    """A trained registration network (``vxm-2d``); ``preprocess`` comes from its checkpoint.

    Args:
        symmetric: inverse-consistent inference (mean of the forward and the negated backward velocity).
    """

    name = "learned"

    def __init__(self, model: torch.nn.Module, preprocess: PreprocessConfig | None = None, batch: int = 4,
                 symmetric: bool = False) -> None:
        self.model, self.batch, self.symmetric = model.eval(), batch, symmetric
        self.preprocess = preprocess or PreprocessConfig()

    @classmethod
    def from_checkpoint(cls, path: str | Path, **kw: Any) -> "LearnedRegistrator":
        from cmrseg.checkpoint import load_checkpoint
        from cmrseg.models.pretrained import model_from_checkpoint

        ckpt = load_checkpoint(path)
        model = model_from_checkpoint(ckpt)
        if not hasattr(model, "divisor") or "disp" not in _probe(model):
            raise InputError("checkpoint does not hold a registration model", path,
                             "pass a checkpoint trained with method 'registration' (model vxm-2d)")
        return cls(model, PreprocessConfig.model_validate(ckpt["config"]["data"]["preprocess"]), **kw)

    def _register(self, moving: np.ndarray, fixed: np.ndarray) -> np.ndarray:
        return predict_displacement(self.model, moving, fixed, self.batch, self.symmetric)


def _probe(model: torch.nn.Module) -> dict:
    try:
        with torch.no_grad():
            x = torch.zeros(1, 1, 32, 32)
            out = model(x, x)
        return out if isinstance(out, dict) else {}
    except TypeError:  # a segmentation model takes one input
        return {}


def create_registrator(name: str, checkpoint: str | Path | None = None, **params: Any) -> Registrator:
    """``identity`` | ``demons`` (``params`` go to :class:`DemonsRegistrator`) | ``learned`` (needs ``checkpoint``)."""
    table = {"identity": IdentityRegistrator, "demons": DemonsRegistrator, "learned": LearnedRegistrator}
    cls = look_up(name, table, "registrator")
    if cls is LearnedRegistrator:
        if checkpoint is None:
            raise InputError("the learned registrator needs a checkpoint", None,
                             "pass -c runs/<name>/checkpoints/best.pt of a 'registration' run")
        return LearnedRegistrator.from_checkpoint(checkpoint, **params)
    return cls(**params)


def warp_probabilities(labels: np.ndarray, disp: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """One-hot ``labels`` ``(z, H, W)`` warped bilinearly by ``disp`` ``(z, 2, H, W)`` -> ``(z, C, H, W)``.

    Pixels mapped from outside the image get background.
    """
    lab = torch.from_numpy(np.asarray(labels).astype(np.int64))
    if lab.ndim == 2:
        lab = lab[None]
    if lab.min() < 0 or lab.max() >= num_classes:
        raise InputError(f"label codes must be 0..{num_classes - 1} to be warped; got "
                         f"{int(lab.min())}..{int(lab.max())}", None, "warp full label maps (no 'unannotated' code 4)")
    onehot = torch.nn.functional.one_hot(lab, num_classes).permute(0, 3, 1, 2).float()
    d = torch.from_numpy(np.asarray(disp, dtype=np.float32))
    probs = warp(onehot, d)
    probs[:, 0] += (1.0 - probs.sum(1)).clamp_min(0)  # zero padding outside the image -> background
    return probs.numpy()


def warp_labels(labels: np.ndarray, disp: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Warp a label map: one-hot -> bilinear warp -> argmax; ``(z, H, W)`` uint8 on the fixed grid."""
    return warp_probabilities(labels, disp, num_classes).argmax(1).astype(np.uint8)


def warp_image(image: np.ndarray, disp: np.ndarray) -> np.ndarray:
    """Warp an image ``(z, H, W)`` bilinearly by ``disp`` ``(z, 2, H, W)``."""
    img = torch.from_numpy(_as_volume(image, "image"))[:, None]
    return warp(img, torch.from_numpy(np.asarray(disp, dtype=np.float32)))[:, 0].numpy()


def negative_jacobian_share(disp: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Share of pixels (inside ``mask`` if given) where the Jacobian determinant is <= 0 (folding)."""
    det = jacobian_determinant(disp)
    sel = det if mask is None else det[np.broadcast_to(mask, det.shape).astype(bool)]
    return float((sel <= 0).mean()) if sel.size else 0.0
