"""One typed post-processing config: read from YAML, refuses unknown keys, says what it does; the CLI flags
and files build it; predict without -c uses the shipped model or says there is none."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cmrseg.cli.main import _postprocess, app
from cmrseg.errors import ConfigError
from cmrseg.models import shipped
from cmrseg.postprocess.config import PostprocessConfig, load_postprocess


def test_yaml_flags_and_unknown_keys(tmp_path: Path) -> None:
    f = tmp_path / "post.yaml"
    f.write_text("rv_within_mm: 15\ncrf: {w_smoothness: 3}\n", encoding="utf-8")
    cfg = load_postprocess(f)
    assert cfg.rv_within_mm == 15 and cfg.crf is not None and cfg.crf.w_smoothness == 3 and cfg.enabled
    assert "RV > 15 mm" in cfg.describe() and "dense-CRF" in cfg.describe()
    assert _postprocess(f, True, False, None, True) == cfg.model_copy(update={"enabled": False, "lv_enclosed": True})
    f.write_text("rv_within: 15\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="valid keys: enabled, rv_within_mm"):
        load_postprocess(f)
    assert PostprocessConfig(enabled=False).describe() == "no post-processing"


def test_predict_without_checkpoint_names_the_missing_shipped_model(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path)
    monkeypatch.setattr(shipped.default_model, "__defaults__", (tmp_path,))
    monkeypatch.setattr(shipped.shipped_models, "__defaults__", (tmp_path,))
    res = CliRunner().invoke(app, ["predict", str(tmp_path / "x.nii.gz"), "-o", str(tmp_path / "out")])
    assert res.exit_code == 2 and "no shipped model" in res.output and "-c" in res.output
    res = CliRunner().invoke(app, ["models"])
    assert res.exit_code == 0 and "no model is shipped" in res.output
