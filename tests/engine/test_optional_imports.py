"""Training, evaluation and inference import no reader- or refiner-specific compiled library at module load.

Why: SimpleITK (DICOM pixel decoding) and pydensecrf (CRF refinement) are needed by one reader and one option
each; importing them eagerly made every training process require them, which stopped the package from running
on machines whose images lack them (e.g. a GPU box where only the pure-Python dependencies can be carried).
"""

from __future__ import annotations

import subprocess
import sys

OPTIONAL = ("SimpleITK", "pydensecrf", "voxelmorph", "ray")


def test_engine_pipeline_and_inference_load_without_optional_libraries() -> None:
    code = ("import sys, cmrseg.engine, cmrseg.inference, cmrseg.io, cmrseg.pipeline, cmrseg.methods; "
            f"print(','.join(m for m in {OPTIONAL!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"imported at module load: {out}"
