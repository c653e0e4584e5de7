"""Evaluation: Dice, surface distances in mm (HD95, ASSD), clinical indices and their agreement.

Empty-mask policy (see :mod:`cmrseg.metrics.surface`): both empty -> Dice 1, distances 0; one empty -> Dice 0,
distances = image diagonal in mm; statuses ``both_empty`` / ``missed`` / ``false_positive`` / ``ok``.
"""

from cmrseg.metrics.agreement import AgreementStats, agreement_stats
from cmrseg.metrics.clinical import (CLINICAL_INDICES, MYOCARDIUM_DENSITY_G_PER_ML, clinical_from_volumes,
                                     clinical_indices, structure_volumes_ml, voxel_volume_ml)
from cmrseg.metrics.evaluate import (EvaluationResult, StructureMetrics, evaluate_cases, evaluate_folders,
                                     evaluate_pair, summarize)
from cmrseg.metrics.overlap import dice, dice_per_structure
from cmrseg.metrics.surface import SurfaceDistances, assd, hd95, penalty_mm, surface_distances
from cmrseg.metrics.tables import render_table

__all__ = [
    "AgreementStats", "agreement_stats",
    "CLINICAL_INDICES", "MYOCARDIUM_DENSITY_G_PER_ML", "clinical_from_volumes", "clinical_indices",
    "structure_volumes_ml", "voxel_volume_ml",
    "EvaluationResult", "StructureMetrics", "evaluate_cases", "evaluate_folders", "evaluate_pair", "summarize",
    "dice", "dice_per_structure",
    "SurfaceDistances", "assd", "hd95", "penalty_mm", "surface_distances",
    "render_table",
]
