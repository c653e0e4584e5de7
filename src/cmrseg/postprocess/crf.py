"""Dense CRF refinement of softmax maps, slice by slice, with positions in millimetres.

The fully connected CRF of P. Krähenbühl and V. Koltun, "Efficient Inference in Fully Connected CRFs with
Gaussian Edge Potentials", NeurIPS 2011 (``pydensecrf2``), as used on network outputs by W. Bai et al.,
"Semi-supervised Learning for Network-Based Cardiac MR Image Segmentation", MICCAI 2017. Energy per slice:

    E(x) = sum_i -log p_i(x_i) + sum_{i<j} [x_i != x_j] k(i, j)
    k(i, j) = w1 exp(-|p_i - p_j|^2 / (2 sigma_alpha^2) - |I_i - I_j|^2 / (2 sigma_beta^2))   (appearance)
            + w2 exp(-|p_i - p_j|^2 / (2 sigma_gamma^2))                                      (smoothness)

Reference parameters (Bai et al.): w1 = 1, w2 = 2, sigma_alpha = 0.5, sigma_beta = 1, sigma_gamma = 1.

**Units (our mapping).** The paper gives no units. We keep its numbers and measure positions ``p`` in
units of ``unit_mm`` millimetres: a spatial sigma in pixels is ``sigma * unit_mm / spacing_mm`` along each
axis, so one parameter set means the same physical neighbourhood at any pixel spacing. Default
``unit_mm = 3``: sigma_alpha = 1.5 mm, sigma_gamma = 3 mm, i.e. 1 and 2 px on the 1.5 mm grid the networks
run on. Read as pixels (``unit_mm = 1.5`` there: sigma_alpha = 0.5 px) the appearance kernel hardly reaches
past the pixel itself and the CRF keeps even a 3 mm blob the network gives p = 0.7; with ``unit_mm = 3``
such blobs (up to ~4.5 mm radius, p <= 0.8, in a region the image shows as background) are removed, while
larger units (5-10 mm) erode the thin myocardium on real data. Chosen on 20 ACDC *training* patients that
the 7-label checkpoint never saw, not on the validation split (figures: ``benchmarks/RESULTS.md``).
Intensities ``I`` are the image normalised as :func:`cmrseg.data.preprocess.normalise_intensity` does
(0.5/99.5 percentile clip, then z-score over the volume; the Predictor passes its preprocessed image), so
``sigma_beta = 1`` is one standard deviation of the volume's intensities.

Kernels are normalised symmetrically (``pydensecrf`` default, ``D^-1/2 K D^-1/2``): a pairwise message is a
weighted *average* of neighbour marginals times ``w``, so ``w1``/``w2`` shift a pixel's log-probabilities by
at most ``w1 + w2`` and the result hardly depends on the pixel density (spacing invariance). Confident
network pixels (``-log p`` margins > ~3) therefore never flip; uncertain ones follow image edges.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cmrseg.axes import shape_text
from cmrseg.data.preprocess import normalise_intensity


class CRFConfig(BaseModel):
    """Dense CRF parameters (Bai et al. 2017 reference values; spatial sigmas in units of ``unit_mm`` mm)."""

    model_config = ConfigDict(extra="forbid")

    w_appearance: float = Field(1.0, ge=0, description="w1: weight of the bilateral (position + intensity) kernel")
    w_smoothness: float = Field(2.0, ge=0, description="w2: weight of the position-only Gaussian kernel")
    sigma_alpha: float = Field(0.5, gt=0, description="spatial sigma of the appearance kernel, in unit_mm")
    sigma_beta: float = Field(1.0, gt=0, description="intensity sigma, in z-scores of the normalised image")
    sigma_gamma: float = Field(1.0, gt=0, description="spatial sigma of the smoothness kernel, in unit_mm")
    unit_mm: float = Field(3.0, gt=0, description="millimetres per position unit (sigma_px = sigma*unit_mm/spacing)")
    iterations: int = Field(5, ge=1, description="mean-field iterations")
    prob_floor: float = Field(1e-5, gt=0, lt=0.5, description="probabilities are clipped here before -log")


def _pixel_coords(shape_yx: tuple[int, int], spacing_yx: tuple[float, float], sigma_mm: float) -> np.ndarray:
    """``(2, H*W)`` pixel positions in mm divided by ``sigma_mm`` (the kernel's feature space)."""
    yy, xx = np.meshgrid(np.arange(shape_yx[0], dtype=np.float32) * (spacing_yx[0] / sigma_mm),
                         np.arange(shape_yx[1], dtype=np.float32) * (spacing_yx[1] / sigma_mm), indexing="ij")
    return np.stack([yy.ravel(), xx.ravel()])


def crf_refine_slice(probs: np.ndarray, image: np.ndarray, spacing_yx: tuple[float, float],
                     cfg: CRFConfig) -> np.ndarray:
    """Refined marginals ``(C, H, W)`` of one slice; ``image`` ``(H, W)`` already normalised (z-scores)."""
    import pydensecrf.densecrf as dcrf  # imported here: every Predictor imports this module, few use the CRF
    from pydensecrf.utils import unary_from_softmax

    n_classes, h, w = probs.shape
    crf = dcrf.DenseCRF(h * w, n_classes)
    crf.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs, clip=cfg.prob_floor)))
    if cfg.w_smoothness > 0:
        feats = _pixel_coords((h, w), spacing_yx, cfg.sigma_gamma * cfg.unit_mm)
        crf.addPairwiseEnergy(np.ascontiguousarray(feats), compat=cfg.w_smoothness)
    if cfg.w_appearance > 0:
        pos = _pixel_coords((h, w), spacing_yx, cfg.sigma_alpha * cfg.unit_mm)
        inten = (image.astype(np.float32) / cfg.sigma_beta).reshape(1, -1)
        crf.addPairwiseEnergy(np.ascontiguousarray(np.concatenate([pos, inten])), compat=cfg.w_appearance)
    q = np.asarray(crf.inference(cfg.iterations), dtype=np.float32)
    return q.reshape(n_classes, h, w)


def crf_refine(probs: np.ndarray, image: np.ndarray, spacing_yx: tuple[float, float], cfg: CRFConfig | None = None,
               *, normalise: bool = False) -> np.ndarray:
    """Dense-CRF-refined class marginals of a volume, slice by slice (short-axis slices are 5-10 mm apart).

    Args:
        probs: ``(C, z, y, x)`` softmax probabilities (sum to 1 over ``C``).
        image: ``(z, y, x)`` image on the same grid, normalised like our preprocessing (z-scores); pass
            ``normalise=True`` for a raw image (then :func:`normalise_intensity` is applied first).
        spacing_yx: in-plane pixel spacing in mm ``(sy, sx)``.
        cfg: CRF parameters (default :class:`CRFConfig`).

    Returns:
        ``(C, z, y, x)`` float32 marginals; ``argmax(0)`` is the refined label map.

    Example (an uncertain column next to a bright edge joins the side it looks like):
        >>> img = np.zeros((1, 16, 8), np.float32); img[..., 4:] = 3.0
        >>> p1 = np.full((1, 16, 8), 0.1, np.float32); p1[..., 5:] = 0.9; p1[..., 4] = 0.45
        >>> q = crf_refine(np.stack([1 - p1, p1]), img, (1.5, 1.5))
        >>> (p1[0, 8] > 0.5).astype(int).tolist(), q.argmax(0)[0, 8].tolist()
        ([0, 0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 1, 1, 1, 1])
    """
    cfg = cfg or CRFConfig()
    probs = np.asarray(probs, dtype=np.float32)
    image = np.asarray(image, dtype=np.float32)
    if probs.ndim != 4 or image.ndim != 3 or probs.shape[1:] != image.shape:
        raise ValueError(f"crf_refine needs probs (C, z, y, x) and image (z, y, x) on the same grid; "
                         f"got {shape_text(probs.shape, ('C', 'z', 'y', 'x'))} and {shape_text(image.shape)}")
    if len(spacing_yx) != 2 or not all(float(s) > 0 for s in spacing_yx):
        raise ValueError(f"spacing_yx must be two positive in-plane spacings (y, x) in mm, got {spacing_yx}")
    if normalise:
        image = normalise_intensity(image)
    sp = (float(spacing_yx[0]), float(spacing_yx[1]))
    out = np.empty_like(probs)
    for z in range(image.shape[0]):
        out[:, z] = crf_refine_slice(probs[:, z], image[z], sp, cfg)
    return out
