"""Agreement of a measured index with its reference: Bland-Altman bias and limits of agreement (Bland & Altman,
Lancet 1986), mean absolute error and Pearson correlation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class AgreementStats:
    """Agreement of ``pred`` with ``gt`` over ``n`` finite pairs; ``n_excluded`` pairs had a NaN/Inf.

    ``bias`` = mean(pred - gt); ``sd`` = sample SD (ddof=1) of the differences; limits of agreement =
    ``bias -/+ 1.96 sd``; ``mae`` = mean |pred - gt|; ``pearson_r`` = Pearson correlation of pred and gt.
    Statistics that need more pairs (sd, LoA, r need 2) or variance (r) are NaN.
    """

    n: int
    n_excluded: int
    bias: float
    sd: float
    loa_low: float
    loa_high: float
    mae: float
    pearson_r: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def agreement_stats(pred: Sequence[float] | np.ndarray, gt: Sequence[float] | np.ndarray) -> AgreementStats:
    """Bias, SD, 95% limits of agreement, MAE and Pearson r of paired values; pairs with a NaN are excluded.

    Example:
        >>> agreement_stats([1.0, 2.0, 4.0], [0.0, 2.0, 3.0]).bias
        0.6666666666666666
    """
    p = np.asarray(pred, dtype=float).ravel()
    g = np.asarray(gt, dtype=float).ravel()
    if p.shape != g.shape:
        raise ValueError(f"pred and gt must pair up, got {p.size} and {g.size} values")
    keep = np.isfinite(p) & np.isfinite(g)
    p, g = p[keep], g[keep]
    n, nan = int(p.size), math.nan
    diff = p - g
    bias = float(diff.mean()) if n else nan
    mae = float(np.abs(diff).mean()) if n else nan
    sd = float(diff.std(ddof=1)) if n >= 2 else nan
    r = nan
    if n >= 2 and p.std() > 0 and g.std() > 0:
        r = float(np.corrcoef(p, g)[0, 1])
    return AgreementStats(n=n, n_excluded=int((~keep).sum()), bias=bias, sd=sd,
                          loa_low=bias - 1.96 * sd, loa_high=bias + 1.96 * sd, mae=mae, pearson_r=r)
