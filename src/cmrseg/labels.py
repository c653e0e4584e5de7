"""The one label convention used everywhere inside cmrseg.

``0`` background, ``1`` RV blood pool, ``2`` LV myocardium, ``3`` LV blood pool (the ACDC / MS-CMRSeg
codes). Readers of datasets with other codes (M&Ms: 1 LV, 2 Myo, 3 RV) remap into this convention, so
nothing downstream ever sees another one. Scribble maps additionally use ``4`` = not annotated.
"""

from __future__ import annotations

BACKGROUND, RV, MYO, LV = 0, 1, 2, 3
UNANNOTATED = 4
NUM_CLASSES = 4
STRUCTURES: dict[int, str] = {LV: "LV", MYO: "Myo", RV: "RV"}
CLASS_NAMES: tuple[str, ...] = ("BG", "RV", "Myo", "LV")

#: M&Ms codes (1 LV, 2 Myo, 3 RV) -> cmrseg codes.
MNMS_TO_CMRSEG: dict[int, int] = {0: BACKGROUND, 1: LV, 2: MYO, 3: RV}
