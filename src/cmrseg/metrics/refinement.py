"""What a refinement step (dense CRF, post-processing) did to a label map, judged against expert labels.

Dice before and after says whether a refinement helped on balance; it cannot say whether the step *fixes*
wrong voxels or only moves correct boundaries around. :func:`refinement_audit` counts, over the voxels the step
changed, those it fixed (wrong before, right after), those it broke (right before, wrong after) and those it
moved from one wrong label to another. Counts (not shares) are returned so that volumes can be summed.
Used by ``benchmarks/self_training.py --crf-audit`` on the self-training pseudo-labels (Bai et al. 2017 use a
CRF to refine them; the question is whether it corrects them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cmrseg.labels import UNANNOTATED
from cmrseg.metrics.overlap import dice_per_structure


@dataclass
class RefinementCounts:
    """Voxel counts of one (or several summed) refinement(s); ``wrong_before`` = errors before refining."""

    voxels: int = 0
    changed: int = 0
    fixed: int = 0
    broken: int = 0
    wrong_before: int = 0
    wrong_after: int = 0

    def __add__(self, other: "RefinementCounts") -> "RefinementCounts":
        return RefinementCounts(**{k: v + getattr(other, k) for k, v in asdict(self).items()})

    @property
    def moved(self) -> int:
        """Changed voxels that were wrong before and are still wrong (another wrong label)."""
        return self.changed - self.fixed - self.broken

    def summary(self) -> dict[str, float]:
        """Shares: voxels changed (of all, and relative to the errors before); fixed / broken / moved of the
        changed ones; errors removed (net) of the errors before."""
        ch = max(self.changed, 1)
        return {"changed_pct": 100.0 * self.changed / max(self.voxels, 1),
                "changed_of_errors_pct": 100.0 * self.changed / max(self.wrong_before, 1),
                "fixed_of_changed": self.fixed / ch, "broken_of_changed": self.broken / ch,
                "moved_of_changed": self.moved / ch,
                "net_errors_removed_pct": 100.0 * (self.wrong_before - self.wrong_after) / max(self.wrong_before, 1)}


def refinement_audit(before: np.ndarray, after: np.ndarray, truth: np.ndarray) -> RefinementCounts:
    """Count what changing ``before`` into ``after`` did, judged against ``truth`` (label maps of one shape).

    Voxels marked ``UNANNOTATED`` (4) in any of the three maps are left out (e.g. confidence-masked
    pseudo-labels, scribble-only truth).

    Example:
        >>> c = refinement_audit(np.array([0, 1, 1, 0]), np.array([0, 0, 1, 1]), np.array([0, 0, 1, 0]))
        >>> (c.changed, c.fixed, c.broken)
        (2, 1, 1)
    """
    before, after, truth = (np.asarray(a) for a in (before, after, truth))
    if not before.shape == after.shape == truth.shape:
        raise ValueError(f"label maps must have one shape (in the axis order given, e.g. (z, y, x)), got "
                         f"{before.shape}, {after.shape}, {truth.shape}")
    keep = (before != UNANNOTATED) & (after != UNANNOTATED) & (truth != UNANNOTATED)
    b, a, t = before[keep], after[keep], truth[keep]
    changed = b != a
    right_b, right_a = b == t, a == t
    return RefinementCounts(voxels=int(keep.sum()), changed=int(changed.sum()),
                            fixed=int((changed & ~right_b & right_a).sum()),
                            broken=int((changed & right_b & ~right_a).sum()),
                            wrong_before=int((~right_b).sum()), wrong_after=int((~right_a).sum()))


def structure_dice_change(before: np.ndarray, after: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Dice after minus Dice before, per structure (``{"LV": .., "Myo": .., "RV": ..}``)."""
    d_before, d_after = dice_per_structure(before, truth), dice_per_structure(after, truth)
    return {name: d_after[name] - d_before[name] for name in d_before}
