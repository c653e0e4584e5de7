"""Model registry: names -> constructors, with a helpful error on a typo."""

from __future__ import annotations

import difflib
from typing import Any, Callable

import torch.nn as nn
from pydantic import BaseModel, Field

from cmrseg.errors import ConfigError

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _MODELS[name] = fn
        return fn
    return deco


class ModelConfig(BaseModel):
    """Which network and with which constructor arguments; saved in every checkpoint."""

    name: str = "unet"
    params: dict[str, Any] = Field(default_factory=dict)


def look_up(name: str, table: dict[str, Any], what: str) -> Any:
    """``table[name]`` or a :class:`ConfigError` listing valid names and the closest match."""
    if name in table:
        return table[name]
    close = difflib.get_close_matches(name, list(table), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ConfigError(f"unknown {what} '{name}'. Valid: {sorted(table)}.{hint}")


def create_model(cfg: ModelConfig) -> nn.Module:
    """Build a registered model from its config."""
    return look_up(cfg.name, _MODELS, "model")(**cfg.params)


def available_models() -> list[str]:
    return sorted(_MODELS)


@register_model("unet")
def _unet(**kw: Any) -> nn.Module:
    from cmrseg.models.unet import UNet2D

    if "features" in kw:
        kw["features"] = tuple(kw["features"])
    return UNet2D(**kw)


@register_model("vgg-fcn")
def _vgg_fcn(**kw: Any) -> nn.Module:
    """Bai et al. (MICCAI 2017) VGG-16-like FCN with multi-scale concatenation; see :mod:`cmrseg.models.vgg_fcn`."""
    from cmrseg.models.vgg_fcn import VggFCN

    return VggFCN(**kw)


@register_model("monai_basicunet")
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


@register_model("vxm-2d")
def _vxm_2d(**kw: Any) -> nn.Module:
    """VoxelMorph 2D pairwise registration (``forward(moving, fixed)``); see ``cmrseg.models.registration``."""
    from cmrseg.models.registration import RegistrationNet

    return RegistrationNet(**kw)


@register_model("shape-ae")
def _shape_ae(**kw: Any) -> nn.Module:
    """Label-map autoencoder (shape prior of SRNN / ACNN); pre-trained with method ``shape-ae``."""
    from cmrseg.models.shape_ae import ShapeAE

    return ShapeAE(**kw)


@register_model("label2image")
def _label2image(**kw: Any) -> nn.Module:
    """MUNIT-style label-to-image translator (``preset`` compact | large); trained with method ``label2image``."""
    from cmrseg.models.translator import Label2Image

    return Label2Image(**kw)
