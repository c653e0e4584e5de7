"""cmrseg: label-efficient short-axis cardiac MRI segmentation and clinical indices.

Python API entry points::

    from cmrseg.io import load_dataset, read_volume
    from cmrseg.engine import train
    from cmrseg.inference import Predictor
    from cmrseg.metrics import evaluate_folders
"""

__version__ = "0.1.0"
