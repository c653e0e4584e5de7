"""``cmrseg config explain FILE``: the resolved configuration, each field with its meaning.

Every value a run will use (defaults included), then the typed params of its method, the params its model
and each loss term accept, so a reader sees what a config means without reading the source.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from pydantic import BaseModel

from cmrseg.config.load import _inner_model
from cmrseg.config.schema import Config


def _fields(model: BaseModel, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(dotted key, value, description) of every leaf field; nested sections are walked."""
    rows: list[tuple[str, Any, str]] = []
    for key, field in type(model).model_fields.items():
        value = getattr(model, key)
        inner, contained = _inner_model(field.annotation)
        if isinstance(value, BaseModel) and not contained:
            rows.extend(_fields(value, f"{prefix}{key}."))
            continue
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        elif isinstance(value, dict):
            value = {k: v.model_dump(mode="json") if isinstance(v, BaseModel) else v for k, v in value.items()}
        elif isinstance(value, list):
            value = [v.model_dump(mode="json", exclude_defaults=True) if isinstance(v, BaseModel) else v
                     for v in value]
        rows.append((f"{prefix}{key}", value, field.description or ""))
    return rows


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 70 else text[:67] + "..."


def explain_config(cfg: Config) -> str:
    """The resolved config as text: ``key = value  # meaning``, then what the method, model and terms accept."""
    from cmrseg.losses.registry import _LOSSES, available_losses
    from cmrseg.methods.base import method_class
    from cmrseg.models.registry import _MODELS, accepted_params

    lines = ["# resolved configuration (defaults included)"]
    rows = _fields(cfg)
    width = max(len(f"{k} = {_show(v)}") for k, v, _ in rows)
    lines += [f"{f'{k} = {_show(v)}':<{width}}  # {d}" if d else f"{k} = {_show(v)}" for k, v, d in rows]
    cls = method_class(cfg.method.name)
    params, terms = cls.declaration(cfg.method)  # typed and checked; no network is loaded
    doc = next((ln for ln in (inspect.getdoc(cls) or "").splitlines() if ln), "")
    lines += ["", f"# method '{cfg.method.name}' ({cls.__module__}): {doc}",
              f"#   streams: {sorted({t.stream for t in terms})}"]
    for key, field in type(params).model_fields.items():
        lines.append(f"method.params.{key} = {_show(getattr(params, key))}  # {field.description or ''}")
    if not type(params).model_fields:
        lines.append("#   (no params)")
    for i, term in enumerate(terms):
        lines.append(f"# term {i}: {term.loss} on '{term.stream}' x {term.weight:g} (start {term.start}, ramp-up "
                     f"{term.ramp_up}, stop {term.stop})")
    available_losses()
    for loss in sorted({t.loss for t in terms}):
        names, _ = accepted_params(_LOSSES[loss])
        lines.append(f"#   loss {loss} params: {', '.join(names) or '(none)'}")
    names, open_kw = accepted_params(_MODELS[cfg.model.name])
    lines.append(f"# model '{cfg.model.name}' params: {', '.join(names)}" + (" (and preset overrides)" if open_kw else ""))
    return "\n".join(lines)
