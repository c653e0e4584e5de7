"""On-disk cache of preprocessed volumes, so training never re-reads NIfTI files every epoch.

Key = hash of (source file path, size, mtime, label/scribble paths, preprocessing config). A changed file or
changed preprocessing gives a new key; stale entries are simply never read again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from cmrseg.data.preprocess import Geometry, Preprocessed, PreprocessConfig, preprocess
from cmrseg.io.base import CaseRef


def _stat(p: Path | None) -> list:
    if p is None:
        return [None]
    st = Path(p).stat()
    return [str(Path(p).resolve()), st.st_size, int(st.st_mtime)]


def cache_key(ref: CaseRef, cfg: PreprocessConfig) -> str:
    parts = [_stat(ref.image_path), _stat(ref.label_path), ref.time_index, ref.label_map and sorted(ref.label_map.items()),
             cfg.model_dump_json()]
    return hashlib.sha1(json.dumps(parts, default=str).encode()).hexdigest()[:16]


class PreprocessedCache:
    """Preprocess a :class:`CaseRef` once and keep the result as ``.npz`` under ``root``."""

    def __init__(self, root: str | Path, cfg: PreprocessConfig) -> None:
        self.root = Path(root)
        self.cfg = cfg
        self.root.mkdir(parents=True, exist_ok=True)

    def get(self, ref: CaseRef, with_label: bool = True) -> Preprocessed:
        path = self.root / f"{ref.case_id}-{cache_key(ref, self.cfg)}{'' if with_label else '-nolabel'}.npz"
        if path.exists():
            with np.load(path) as z:
                lab = z["label"] if "label" in z.files else None
                return Preprocessed(z["image"], lab, Geometry.from_dict(json.loads(str(z["geometry"]))),
                                    tuple(z["spacing"].tolist()))
        case = ref.load(with_label=with_label)
        pre = preprocess(case if with_label else case.with_label(None), self.cfg)
        arrays = {"image": pre.image, "geometry": json.dumps(pre.geometry.to_dict()),
                  "spacing": np.asarray(pre.spacing)}
        if pre.label is not None:
            arrays["label"] = pre.label
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".npz")
        os.close(fd)
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
        return pre
