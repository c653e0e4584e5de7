"""Model registry: names -> constructors, with a helpful error on a typo."""

from __future__ import annotations

import difflib
import importlib
import inspect
from typing import Any, Callable

import torch.nn as nn
from pydantic import BaseModel, ConfigDict, Field

from cmrseg.errors import ConfigError

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str, forwards_to: str | None = None
                   ) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a model factory; one that passes ``**kw`` on names the class (``"module:Class"``) so unknown
    params can be refused with the valid names."""
    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        fn.forwards_to = forwards_to  # type: ignore[attr-defined]
        _MODELS[name] = fn
        return fn
    return deco


class ModelConfig(BaseModel):
    """Which network and with which constructor arguments; saved in every checkpoint."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("unet", description="registered model: unet, vgg-fcn, monai_basicunet, vxm-2d, shape-ae, "
                      "label2image (`cmrseg info`)")
    params: dict[str, Any] = Field(default_factory=dict, description="constructor arguments of the model (e.g. "
                                   "features, position_head); unknown ones are refused with the valid names")


def look_up(name: str, table: dict[str, Any], what: str) -> Any:
    """``table[name]`` or a :class:`ConfigError` listing valid names and the closest match."""
    if name in table:
        return table[name]
    close = difflib.get_close_matches(name, list(table), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ConfigError(f"unknown {what} '{name}'. Valid: {sorted(table)}.{hint}")


def accepted_params(factory: Callable[..., Any]) -> tuple[list[str], bool]:
    """The keyword names ``factory`` accepts, and whether it also takes any other (``**kw`` it does not forward
    to a declared target). A factory that forwards ``**kw`` names its target as ``forwards_to = "module:Class"``."""
    sig = inspect.signature(factory)
    kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    names = [p.name for p in sig.parameters.values() if p.kind not in kinds and p.name != "self"]
    open_kw = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    target = getattr(factory, "forwards_to", None)
    if open_kw and target:
        module, _, attr = target.partition(":")
        more, open_kw = accepted_params(getattr(importlib.import_module(module), attr))
        names += [n for n in more if n not in names]
    return names, open_kw


def call_with_params(factory: Callable[..., Any], params: dict[str, Any], what: str) -> Any:
    """``factory(**params)``; an unknown keyword is a :class:`ConfigError` listing the valid ones (a typo must
    never silently train the default)."""
    names, open_kw = accepted_params(factory)
    unknown = [k for k in params if k not in names]
    if unknown and not open_kw:
        hints = [f"'{k}' -> '{c[0]}'?" for k in unknown if (c := difflib.get_close_matches(k, names, n=1))]
        raise ConfigError(f"{what}: unknown {unknown}. Valid: {names}." + (f" Did you mean {', '.join(hints)}"
                                                                            if hints else ""))
    return factory(**params)


def create_model(cfg: ModelConfig) -> nn.Module:
    """Build a registered model from its config."""
    factory = look_up(cfg.name, _MODELS, "model")
    return call_with_params(factory, cfg.params, f"model '{cfg.name}' params")


def available_models() -> list[str]:
    return sorted(_MODELS)


@register_model("unet", forwards_to="cmrseg.models.unet:UNet2D")
def _unet(**kw: Any) -> nn.Module:
    from cmrseg.models.unet import UNet2D

    if "features" in kw:
        kw["features"] = tuple(kw["features"])
    return UNet2D(**kw)


@register_model("vgg-fcn", forwards_to="cmrseg.models.vgg_fcn:VggFCN")
def _vgg_fcn(**kw: Any) -> nn.Module:
    """Bai et al. (MICCAI 2017) VGG-16-like FCN with multi-scale concatenation; see :mod:`cmrseg.models.vgg_fcn`."""
    from cmrseg.models.vgg_fcn import VggFCN

    return VggFCN(**kw)


@register_model("monai_basicunet", forwards_to="monai.networks.nets:BasicUNet")
def _monai_basicunet(in_channels: int = 1, num_classes: int = 4, features: tuple[int, ...] = (16, 32, 64, 128, 256, 16),
                     **kw: Any) -> nn.Module:
    """MONAI's BasicUNet, wrapped to return the same output dict as our U-Net."""
    from monai.networks.nets import BasicUNet

    class _Wrapped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = BasicUNet(spatial_dims=2, in_channels=in_channels, out_channels=num_classes,
                                 features=tuple(features), **kw)
            self.divisor = 16

        def forward(self, x):  # type: ignore[no-untyped-def]
            return {"logits": self.net(x)}

    return _Wrapped()


@register_model("vxm-2d", forwards_to="cmrseg.models.registration:RegistrationNet")
def _vxm_2d(**kw: Any) -> nn.Module:
    """VoxelMorph 2D pairwise registration (``forward(moving, fixed)``); see ``cmrseg.models.registration``."""
    from cmrseg.models.registration import RegistrationNet

    return RegistrationNet(**kw)


@register_model("shape-ae", forwards_to="cmrseg.models.shape_ae:ShapeAE")
def _shape_ae(**kw: Any) -> nn.Module:
    """Label-map autoencoder (shape prior of SRNN / ACNN); pre-trained with method ``shape-ae``."""
    from cmrseg.models.shape_ae import ShapeAE

    return ShapeAE(**kw)


@register_model("label2image", forwards_to="cmrseg.models.translator:Label2Image")
def _label2image(**kw: Any) -> nn.Module:
    """MUNIT-style label-to-image translator (``preset`` compact | large); trained with method ``label2image``."""
    from cmrseg.models.translator import Label2Image

    return Label2Image(**kw)
