"""Training curves from a run's ``history.csv`` (written by :class:`cmrseg.engine.logging.MetricLogger`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cmrseg.labels import STRUCTURES
from cmrseg.report.overlays import COLOURS

_DICE_COLOURS = {f"val/dice_{name}": COLOURS[code] for code, name in STRUCTURES.items()} | {"val/dice_mean": "black"}


def read_history(history_csv: str | Path) -> pd.DataFrame | None:
    """The history table sorted by iteration, or ``None`` if the file is missing, unreadable or has no rows."""
    path = Path(history_csv)
    if not path.is_file():
        return None
    try:
        df = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
        return None
    if df.empty or "iteration" not in df.columns:
        return None
    return df.sort_values("iteration").reset_index(drop=True)


def plot_history(history_csv: str | Path, path: str | Path) -> Path | None:
    """Two panels vs iteration: every ``loss*`` column, and validation Dice per structure (LV red, Myo green,
    RV blue, mean black). Returns the PNG path, or ``None`` if the history is missing or empty."""
    df = read_history(history_csv)
    if df is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    it = df["iteration"].to_numpy(float)
    fig, (ax_loss, ax_dice) = plt.subplots(1, 2, figsize=(10, 3.6))
    losses = [c for c in df.columns if c.startswith("loss")]
    for col in losses:
        y = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
        ax_loss.plot(it, y, marker=".", lw=2.0 if col == "loss/total" else 1.2, label=col)
    finite = np.concatenate([pd.to_numeric(df[c], errors="coerce").to_numpy(float) for c in losses] or [[]])
    finite = finite[np.isfinite(finite)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 20:
        ax_loss.set_yscale("log")
    ax_loss.set(title="training loss", xlabel="iteration")
    dice_cols = [c for c in _DICE_COLOURS if c in df.columns]
    for col in dice_cols:
        ax_dice.plot(it, pd.to_numeric(df[col], errors="coerce"), marker=".", color=_DICE_COLOURS[col],
                     lw=2.0 if col.endswith("mean") else 1.2, label=col.removeprefix("val/dice_"))
    ax_dice.set(title="validation Dice", xlabel="iteration", ylim=(0, 1))
    for ax, has, what in ((ax_loss, losses, "loss"), (ax_dice, dice_cols, "validation")):
        ax.grid(alpha=0.3)
        if has:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, f"no {what} columns", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path
