"""One typed post-processing configuration, used by ``predict``, ``evaluate``, ``cohort`` and the Python API.

Largest 3D component per structure and per-slice hole filling (``enabled``), two anatomical rules
(:mod:`cmrseg.postprocess.components`) and dense-CRF refinement of the probabilities (:mod:`cmrseg.postprocess.crf`).
Read from YAML with :func:`load_postprocess`; unknown keys are refused with the valid ones.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cmrseg.errors import ConfigError
from cmrseg.postprocess.crf import CRFConfig


class PostprocessConfig(BaseModel):
    """What happens to a network's probabilities before they become the label map written."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="largest 3D component per structure and per-slice hole filling")
    rv_within_mm: float | None = Field(None, gt=0, description="drop RV components with no voxel within this "
                                       "in-plane distance (mm) of the LV + myocardium")
    lv_enclosed: bool = Field(False, description="keep the LV component most enclosed by myocardium (not the "
                              "largest), and the myocardium around it")
    crf: CRFConfig | None = Field(None, description="refine the probabilities with a dense CRF first (Bai et al. "
                                  "2017 parameters, sigmas in mm); None = off")

    def describe(self) -> str:
        """The rules in words, for the protocol stored with every evaluation."""
        if not self.enabled:
            rules = ["no post-processing"]
        else:
            rules = ["post-processing (largest component, holes filled)"]
            if self.rv_within_mm is not None:
                rules.append(f"RV > {self.rv_within_mm:g} mm from LV+Myo dropped")
            if self.lv_enclosed:
                rules.append("LV = component most enclosed by Myo")
        if self.crf is not None:
            rules.append("dense-CRF refined")
        return "; ".join(rules)


def load_postprocess(path: str | Path | None = None, **overrides: object) -> PostprocessConfig:
    """A YAML file's post-processing (or the defaults), with the non-None ``overrides`` on top."""
    import yaml

    raw: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: post-processing config does not exist")
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{p}: post-processing config must be a YAML mapping")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return PostprocessConfig.model_validate(raw)
    except ValidationError as exc:
        valid = ", ".join(PostprocessConfig.model_fields)
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path or 'post-processing'}: {problems} (valid keys: {valid})") from None
