"""Readers and writers: dataset layouts -> lazy :class:`CaseRef` lists, files/DICOM -> :class:`Case`.

Example:
    >>> from cmrseg.io import load_dataset                       # doctest: +SKIP
    >>> refs = load_dataset("../shared/data/acdc")              # layout auto-detected
    >>> case = refs[0].load()                                   # image (z, y, x), spacing in mm, label
    >>> cine = read_cine("../shared/data/sunnybrook_cine/SCD0000501")  # doctest: +SKIP  (t, z, y, x)
"""

from cmrseg.io.acdc import list_acdc, list_acdc_cine_frames
from cmrseg.io.base import CaseRef
from cmrseg.io.case import Case, validate_label
from cmrseg.io.cine import Cine, PhaseHint, read_cine, read_input
from cmrseg.io.detect import LAYOUTS, detect_layout, load_dataset
from cmrseg.io.dicom import list_dicom, read_dicom_series
from cmrseg.io.load import load_ref, read_volume
from cmrseg.io.mnms import list_mnms
from cmrseg.io.mscmr import list_mscmr
from cmrseg.io.nifti import read_nifti, read_nifti_4d, write_nifti
from cmrseg.io.nnunet import list_nnunet
from cmrseg.io.pairs import list_pairs

__all__ = [
    "Case", "CaseRef", "Cine", "LAYOUTS", "PhaseHint", "read_cine", "read_input", "detect_layout", "list_acdc", "list_acdc_cine_frames", "list_dicom", "list_mnms",
    "list_mscmr", "list_nnunet", "list_pairs", "load_dataset", "load_ref", "read_dicom_series", "read_nifti",
    "read_nifti_4d", "read_volume", "validate_label", "write_nifti",
]
