"""YAML load / merge / dump for :class:`Config`, with ``a.b.c=value`` command-line overrides."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from cmrseg.config.schema import Config
from cmrseg.errors import ConfigError


def deep_merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for k, v in update.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _safe_yaml(text: str, where: str) -> Any:
    """Parse YAML with ``safe_load``: plain data only; tags such as ``!!python/object`` are refused, never run."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        tag = " (tags that construct Python objects are not allowed in configs)" if "python/" in str(exc) else ""
        raise ConfigError(f"{where}: invalid YAML{tag}:\n{exc}") from exc


def parse_override(item: str) -> dict:
    """``"optim.lr=1e-3"`` -> ``{"optim": {"lr": 0.001}}`` (value parsed as YAML, so lists/numbers work)."""
    if "=" not in item:
        raise ConfigError(f"override '{item}' must look like key.sub=value")
    key, raw = item.split("=", 1)
    value: Any = _safe_yaml(raw, f"override '{item}'")
    for part in reversed(key.strip().split(".")):
        value = {part: value}
    return value


def read_config_file(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict:
    """A YAML config as a dict, with its ``base:`` (another config, path relative to this file) merged under it.

    ``base`` chains (a base may name its own base); the file's values win over its base's, mappings are merged
    key by key and lists replaced whole (as for command-line overrides). E.g. ``translator_large.yaml`` =
    ``base: translator.yaml`` + the few values an accelerator run changes.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file does not exist" if not p.exists() else f"{p}: config is not a file")
    if p.resolve() in _chain:
        names = " -> ".join(str(c) for c in (*_chain, p.resolve()))
        raise ConfigError(f"{p}: config `base` chain loops back to itself ({names})")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the config as UTF-8 text ({type(exc).__name__}: {exc})") from exc
    raw = _safe_yaml(text, str(p)) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: config must be a YAML mapping")
    base = raw.pop("base", None)
    if base is None:
        return raw
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"{p}: `base` must be the path of another config file, got {base!r}")
    base_path = (p.parent / base) if not Path(base).is_absolute() else Path(base)
    if not base_path.is_file():
        raise ConfigError(f"{p}: its base config {base!r} does not exist (looked for {base_path}; the path is "
                          "relative to the config that names it)")
    return deep_merge(read_config_file(base_path, (*_chain, p.resolve())), raw)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (optional; with its ``base`` chain), apply overrides and validate."""
    raw: dict = read_config_file(path) if path is not None else {}
    for item in overrides or []:
        raw = deep_merge(raw, parse_override(item))
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        where = f"{path}: " if path else ""
        raise ConfigError(f"{where}invalid configuration:\n{explain_errors(exc)}") from None


def _inner_model(ann: Any) -> tuple[type[BaseModel] | None, bool]:
    """The pydantic model inside a field annotation, and whether it sits in a container (dict / list)."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann, False
    for arg in get_args(ann):
        model, contained = _inner_model(arg)
        if model is not None:
            return model, contained or get_origin(ann) in (dict, list, tuple)
    return None, False


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that holds the field at ``loc`` (a path of keys from :class:`Config`)."""
    model: type[BaseModel] = Config
    keys = list(loc[:-1])
    while keys:
        field = model.model_fields.get(str(keys.pop(0)))
        if field is None:
            return None
        inner, contained = _inner_model(field.annotation)
        if inner is None:
            return None
        model = inner
        if contained and keys:
            keys.pop(0)  # the dict key or list index
    return model


def explain_errors(exc: ValidationError) -> str:
    """One line per problem; an unknown key also lists the valid keys of its section."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        text = f"  {'.'.join(map(str, loc)) or '(top level)'}: {err['msg']}"
        if err["type"] == "extra_forbidden":
            model = _model_at(loc)
            if model is not None:
                keys = list(model.model_fields)
                close = difflib.get_close_matches(str(loc[-1]), keys, n=1)
                text += f" (valid keys here: {', '.join(keys)}" + (f"; did you mean '{close[0]}'?)" if close else ")")
        lines.append(text)
    return "\n".join(lines)


def dump_config(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
