"""Run reports: label overlays (PNG), training curves, agreement plots and the self-contained ``report.html`` of a
run folder (sortable metric tables, a slice viewer per volume)."""

from cmrseg.report.cases import find_run_cases
from cmrseg.report.curves import plot_history
from cmrseg.report.html import write_report
from cmrseg.report.overlays import COLOURS, overlay_rgb, save_overlay

__all__ = ["write_report", "find_run_cases", "save_overlay", "overlay_rgb", "plot_history", "COLOURS"]
