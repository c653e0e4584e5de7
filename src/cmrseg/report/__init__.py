"""Run reports: label overlays (PNG), training curves and the self-contained ``report.html`` of a run folder."""

from cmrseg.report.curves import plot_history
from cmrseg.report.html import write_report
from cmrseg.report.overlays import COLOURS, overlay_rgb, save_overlay

__all__ = ["write_report", "save_overlay", "overlay_rgb", "plot_history", "COLOURS"]
