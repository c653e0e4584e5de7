"""Console tables of an :class:`~cmrseg.metrics.evaluate.EvaluationResult` (rich)."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from cmrseg.labels import STRUCTURES
from cmrseg.metrics.evaluate import EvaluationResult


def _f(value: float, digits: int = 2) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def segmentation_table(result: EvaluationResult) -> Table:
    """Per structure: n, Dice mean +- SD, mean HD95 and ASSD in mm, missed and false-positive volumes."""
    table = Table(title="Segmentation (mean over volumes)")
    for col in ("Structure", "n", "Dice", "HD95 mm", "ASSD mm", "missed", "false pos."):
        table.add_column(col, justify="left" if col == "Structure" else "right")
    for name in (*STRUCTURES.values(), "mean"):
        s = result.summary[name]
        dice = _f(s["dice_mean"], 3) + ("" if name == "mean" else f" ± {_f(s['dice_std'], 3)}")
        table.add_row(name, "" if name == "mean" else str(s["n"]), dice, _f(s["hd95_mm_mean"]),
                      _f(s["assd_mm_mean"]), str(s["n_missed"]), str(s["n_false_positive"]),
                      style="bold" if name == "mean" else None)
    return table


def agreement_table(result: EvaluationResult) -> Table:
    """Per clinical index: n, bias, 95% limits of agreement, MAE and Pearson r (pred vs GT)."""
    table = Table(title="Clinical indices, prediction vs ground truth")
    for col in ("Index", "n", "bias", "95% LoA", "MAE", "r"):
        table.add_column(col, justify="left" if col == "Index" else "right")
    for name, a in result.agreement.items():
        n = str(a.n) + (f" (+{a.n_excluded} NaN)" if a.n_excluded else "")
        table.add_row(name, n, _f(a.bias), f"{_f(a.loa_low)} to {_f(a.loa_high)}", _f(a.mae), _f(a.pearson_r, 3))
    return table


def render_table(result: EvaluationResult, console: Console | None = None) -> None:
    """Print the segmentation table, the clinical agreement table (when any patient has ED and ES) and warnings
    about GT without prediction and predictions without GT."""
    console = console or Console()
    console.print(segmentation_table(result))
    if result.agreement:
        console.print(agreement_table(result))
    else:
        console.print("[dim]No clinical indices: no patient has both an ED and an ES volume.[/dim]")
    for what, items in (("GT without prediction", result.missing_predictions),
                        ("prediction without GT", result.unmatched_predictions)):
        if items:
            shown = ", ".join(items[:10]) + (f", ... ({len(items) - 10} more)" if len(items) > 10 else "")
            console.print(f"[yellow]{len(items)} {what}:[/yellow] {shown}")
    for note in result.notes:
        console.print(f"[dim]note: {note}[/dim]")
