"""Agreement plots of clinical indices, prediction vs ground truth: correlation (scatter with the identity line)
and Bland-Altman (difference vs mean with bias and 95 % limits of agreement; Bland & Altman, Lancet 1986).

Input is a run's ``eval/clinical.csv`` (one row per patient, ``<index>_pred`` / ``<index>_gt`` columns, written by
:meth:`cmrseg.metrics.evaluate.EvaluationResult.save`); statistics come from
:func:`cmrseg.metrics.agreement.agreement_stats`, the function behind ``eval/agreement.json``. Figures are
returned as SVG text to inline in the HTML report (crisp at any zoom, no image file).
"""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pandas as pd

from cmrseg.metrics.agreement import AgreementStats, agreement_stats

#: Indices plotted: (column stem in clinical.csv, title, unit).
AGREEMENT_INDICES: tuple[tuple[str, str, str], ...] = (
    ("LV_EDV_ml", "LV EDV", "mL"), ("LV_ESV_ml", "LV ESV", "mL"), ("LV_EF_pct", "LV EF", "%"),
    ("LV_mass_g", "LV mass", "g"), ("RV_EDV_ml", "RV EDV", "mL"), ("RV_ESV_ml", "RV ESV", "mL"),
    ("RV_EF_pct", "RV EF", "%"),
)


def paired_values(df: pd.DataFrame, stem: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Finite ``(pred, gt, patient)`` triples of one index; empty arrays if its columns are absent."""
    if f"{stem}_pred" not in df.columns or f"{stem}_gt" not in df.columns:
        return np.empty(0), np.empty(0), []
    p = pd.to_numeric(df[f"{stem}_pred"], errors="coerce").to_numpy(float)
    g = pd.to_numeric(df[f"{stem}_gt"], errors="coerce").to_numpy(float)
    names = (df["patient"].astype(str) if "patient" in df.columns else pd.Series(map(str, range(len(df)))))
    keep = np.isfinite(p) & np.isfinite(g)
    return p[keep], g[keep], [n for n, k in zip(names, keep) if k]


def _short(name: str) -> str:
    """Compact point label: ``patient002`` -> ``p002``."""
    return re.sub(r"^patient", "p", name)


def _svg(fig, salt: str) -> str:
    """``fig`` as SVG text for inlining in HTML: no XML prologue, namespaces or metadata; every id (and reference
    to it) prefixed with ``salt`` so that several figures can share a page."""
    import matplotlib
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    # inline in HTML the parser sets the SVG/XLink namespaces itself: drop them, the RDF metadata and comments
    # so that the page holds no URL at all
    text = re.sub(r"<metadata>.*?</metadata>|<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    # matplotlib numbers its ids per figure (axes_1, ...): prefix them and their references, unique per page
    text = re.sub(r'\bid="([^"]+)"', rf'id="{salt}-\1"', text)
    return re.sub(r'(url\(#|href="#)([^")]+)', rf"\1{salt}-\2", text)


def _panel_grid(n: int, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(4, n)
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.9 * rows + 0.4), squeeze=False, layout="constrained")
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    return fig, axes.ravel()


def _available(df: pd.DataFrame) -> list[tuple[str, str, str]]:
    return [ind for ind in AGREEMENT_INDICES if paired_values(df, ind[0])[0].size > 0]


def correlation_svg(df: pd.DataFrame) -> str | None:
    """Scatter of predicted vs reference value per index (identity dashed, least-squares fit grey, Pearson r);
    ``None`` if no index has a finite pair."""
    indices = _available(df)
    if not indices:
        return None
    fig, axes = _panel_grid(len(indices), "Correlation: prediction vs ground truth (one point per patient)")
    for ax, (stem, title, unit) in zip(axes, indices):
        p, g, _ = paired_values(df, stem)
        s: AgreementStats = agreement_stats(p, g)
        lo, hi = float(min(p.min(), g.min())), float(max(p.max(), g.max()))
        pad = 0.05 * (hi - lo or 1.0)
        lim = (lo - pad, hi + pad)
        ax.plot(lim, lim, "k--", lw=0.8)
        if p.size >= 2 and np.ptp(g) > 0:
            slope, icpt = np.polyfit(g, p, 1)
            ax.plot(lim, [slope * lim[0] + icpt, slope * lim[1] + icpt], color="0.5", lw=1.0)
        ax.scatter(g, p, s=16, color="tab:blue", zorder=3)
        ax.set(xlim=lim, ylim=lim, xlabel=f"ground truth ({unit})", ylabel=f"prediction ({unit})")
        r = "–" if math.isnan(s.pearson_r) else f"{s.pearson_r:.3f}"
        ax.set_title(f"{title}: r = {r}, n = {s.n}", fontsize=9)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    return _svg(fig, "correlation")


def bland_altman_svg(df: pd.DataFrame) -> str | None:
    """Bland-Altman panel per index: difference (prediction - ground truth) vs mean, bias (solid), 95 % limits
    of agreement (dashed); patients outside the limits are labelled. ``None`` if no index has a finite pair."""
    indices = _available(df)
    if not indices:
        return None
    fig, axes = _panel_grid(len(indices), "Bland-Altman: prediction - ground truth vs their mean")
    for ax, (stem, title, unit) in zip(axes, indices):
        p, g, names = paired_values(df, stem)
        s = agreement_stats(p, g)
        mean, diff = (p + g) / 2.0, p - g
        ax.scatter(mean, diff, s=16, color="tab:blue", zorder=3)
        ax.axhline(0.0, color="0.7", lw=0.8)
        ax.axhline(s.bias, color="tab:red", lw=1.2)
        if not math.isnan(s.sd):
            for y in (s.loa_low, s.loa_high):
                ax.axhline(y, color="tab:red", lw=1.0, ls="--")
            for x, y, name in zip(mean, diff, names):
                if y < s.loa_low or y > s.loa_high:
                    ax.annotate(_short(name), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        loa = "" if math.isnan(s.sd) else f", LoA {s.loa_low:.1f} to {s.loa_high:.1f}"
        ax.set_title(f"{title}: bias {s.bias:.1f}{loa} {unit}", fontsize=9)
        ax.set(xlabel=f"mean ({unit})", ylabel=f"difference ({unit})")
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    return _svg(fig, "bland_altman")
