"""Canonical case type, datasets, splits, label budgets, preprocessing and caching."""

from cmrseg.data.case import Case, validate_label

__all__ = ["Case", "validate_label"]
