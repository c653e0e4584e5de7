"""Configs refuse typos in every section and name the valid keys; every field says what it means."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cmrseg.cli.main import app
from cmrseg.config import load_config
from cmrseg.config.load import _inner_model
from cmrseg.config.schema import Config
from cmrseg.errors import ConfigError
from cmrseg.losses.registry import create_loss
from cmrseg.methods.base import create_method
from cmrseg.models.registry import create_model
from cmrseg.postprocess.crf import CRFConfig


@pytest.mark.parametrize("override, valid", [
    ("data.labeled=3", "labelled"),
    ("data.preprocess.target_spacin=1.5", "target_spacing"),
    ("data.synthetic={s: {source: random_contrast, pool: labelled, tranlator: x}}", "translator"),
    ("model.parms={}", "params"),
    ("method.nam=supervised", "name"),
    ("method.terms=[{loss: dice_ce, wieght: 1}]", "weight"),
    ("optim.lrr=0.1", "lr"),
    ("augment.spatial.rotate=3", "rotate_deg"),
    ("augment.intensity.gama=[0.5, 2]", "gamma"),
    ("train.thread=1", "threads"),
])
def test_a_misspelt_key_in_any_section_names_the_valid_ones(override: str, valid: str) -> None:
    with pytest.raises(ConfigError, match=f"valid keys here: .*{valid}"):
        load_config(None, [override])


def test_misspelt_params_of_models_methods_and_terms_name_the_valid_ones() -> None:
    cfg = load_config(None, ["model.params={featurs: [4, 8]}"])
    with pytest.raises(ConfigError, match=r"unknown \['featurs'\].*'features'"):
        create_model(cfg.model)
    cfg = load_config(None, ["method.name=registration", "method.params={jiter: 3}"])
    with pytest.raises(ConfigError, match="jiter.*Valid keys: jitter"):
        create_method(cfg.method)
    with pytest.raises(ConfigError, match=r"unknown \['ce_weigth'\].*ce_weight"):
        create_loss("dice_ce", {"ce_weigth": 1.0})
    with pytest.raises(ValueError, match="extra"):
        CRFConfig(w_apperance=1.0)


def _fields(model: type, prefix: str = "") -> list[tuple[str, str | None]]:
    out = []
    for key, field in model.model_fields.items():
        out.append((prefix + key, field.description))
        inner, _ = _inner_model(field.annotation)
        if inner is not None:
            out += _fields(inner, prefix + key + ".")
    return out


def test_every_config_field_is_described() -> None:
    missing = [k for k, d in _fields(Config) if not d]
    assert not missing, f"fields without a description: {missing}"


def test_config_explain_prints_values_meanings_and_what_the_method_accepts(tmp_path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("method: {name: registration, params: {jitter: 4}}\nmodel: {name: vxm-2d}\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["config", "explain", str(cfg)])
    assert res.exit_code == 0, res.output
    assert "optim.lr = 0.002" in res.output and "AdamW learning rate" in res.output
    assert "method.params.jitter = 4" in res.output and "random shift of the patch centre" in res.output
    assert "# term 0: reg_ncc on 'pairs'" in res.output and "model 'vxm-2d' params:" in res.output
    cfg.write_text("optim: {lrr: 1}\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["config", "explain", str(cfg)])
    assert res.exit_code == 2 and "lrr" in res.output and "valid keys here" in res.output
