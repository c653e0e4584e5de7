"""Mixed views for semi-supervised training: CutMix within a batch, and bidirectional copy-paste between a
labelled and an unlabelled batch.

* :func:`cutmix` (Yun et al., ICCV 2019; the strong view of UniMatch, Yang et al., CVPR 2023): with probability
  ``p`` a sample gets a random box of another sample of the same batch; its target is mixed the same way.
* :func:`copy_paste` (BCP, Bai et al., "Bidirectional Copy-Paste for Semi-Supervised Medical Image
  Segmentation", CVPR 2023): one box per batch; the labelled image's box goes into the unlabelled image and the
  unlabelled image's box into the labelled one, each supervised by the matching mix of label and pseudo-label,
  so labelled and unlabelled pixels share one distribution.

Targets are integer label maps; 4 (``UNANNOTATED``) marks pixels without a trusted target (low-confidence
pseudo-labels) and is mixed like any class. Draws use the given CPU generator (checkpointed by the engine).
"""

from __future__ import annotations

import torch


def random_box(n: int, size: tuple[int, int], fraction: float | tuple[float, float],
               generator: torch.Generator | None = None) -> torch.Tensor:
    """``(n, 1, H, W)`` masks, 1 inside an axis-aligned box of side ``fraction`` x the image side (a fixed fraction,
    or one drawn uniformly from a range per sample) at a uniformly random position."""
    h, w = size
    lo, hi = (fraction, fraction) if isinstance(fraction, (int, float)) else fraction
    f = lo + torch.rand(n, generator=generator) * (hi - lo)
    bh, bw = (f * h).round().long().clamp(1, h), (f * w).round().long().clamp(1, w)
    y0 = (torch.rand(n, generator=generator) * (h - bh + 1).float()).floor().long()
    x0 = (torch.rand(n, generator=generator) * (w - bw + 1).float()).floor().long()
    yy, xx = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
    inside = ((yy >= y0[:, None, None]) & (yy < (y0 + bh)[:, None, None])
              & (xx >= x0[:, None, None]) & (xx < (x0 + bw)[:, None, None]))
    return inside[:, None].float()


def mix(a: torch.Tensor, b: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """``b`` inside ``box`` and ``a`` outside: images ``(N, C, H, W)`` or label maps ``(N, H, W)``."""
    m = box.to(a.device)
    if a.dim() == 3:
        return torch.where(m[:, 0].bool(), b, a)
    return a * (1 - m) + b * m


def cutmix(image: torch.Tensor, target: torch.Tensor, p: float = 0.5,
           fraction: tuple[float, float] = (0.25, 0.6), generator: torch.Generator | None = None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix within a batch: each sample, with probability ``p``, gets a box of the next sample (a random
    derangement-free roll of the batch); ``target`` (``(N, H, W)`` labels) is mixed identically."""
    n = image.shape[0]
    if n < 2 or p <= 0:
        return image, target
    box = random_box(n, tuple(image.shape[-2:]), fraction, generator)
    box = box * (torch.rand(n, generator=generator) < p).float()[:, None, None, None]
    shift = 1 + int(torch.randint(n - 1, (1,), generator=generator))  # partner i + shift: never itself
    order = (torch.arange(n) + shift) % n
    return mix(image, image[order.to(image.device)], box), mix(target, target[order.to(target.device)], box)


def copy_paste(labelled: torch.Tensor, label: torch.Tensor, unlabelled: torch.Tensor, pseudo: torch.Tensor,
               fraction: float = 2 / 3, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Bidirectional copy-paste: ``[unlabelled with a labelled box; labelled with an unlabelled box]`` and their
    targets (label inside / pseudo-label outside, and the reverse). One box for the batch, as in BCP; pairs the
    first ``min(len(labelled), len(unlabelled))`` samples."""
    n = min(labelled.shape[0], unlabelled.shape[0])
    lab_img, lab, unl_img, pse = labelled[:n], label[:n], unlabelled[:n], pseudo[:n]
    box = random_box(1, tuple(labelled.shape[-2:]), fraction, generator).expand(n, -1, -1, -1)
    images = torch.cat([mix(unl_img, lab_img, box), mix(lab_img, unl_img, box)])
    targets = torch.cat([mix(pse, lab, box), mix(lab, pse, box)])
    return images, targets
