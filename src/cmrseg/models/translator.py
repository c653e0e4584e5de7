"""Label-to-image translator: a compact MUNIT between one-hot label maps (domain A) and MR images (domain B).

After X. Huang et al., "Multimodal Unsupervised Image-to-Image Translation" (MUNIT), ECCV 2018: each domain
has a content encoder into a *shared* spatial content space; images also have a style encoder (a global code
of ``style_dim`` values, prior N(0, I)); the image decoder injects the style through adaptive instance
normalisation (AdaIN) whose parameters an MLP computes from the style code; the label decoder maps content
back to label logits (domain A has no style: anatomy is the content). A random style code turns one label map
into many plausible images (``translate``). Trained on *unpaired* label maps and images by the ``label2image``
method (:mod:`cmrseg.methods.translation`); its image discriminator (:class:`MultiScaleDiscriminator`, LSGAN)
belongs to the ``t2i_gan`` loss, not to this model, so checkpoints hold the generators only.

Sizes: ``preset="compact"`` (width 8, 2 residual blocks, 3x3 convs, zero padding) is sized for CPU training (one step at
batch 8, 128 px, one thread: see ``configs/acdc/translator.yaml``); ``preset="large"`` is MUNIT's own width
(64, 4 residual blocks, MLP 256; 5x5 convs) for an accelerator. Any keyword overrides a preset value. Images are the
z-scored intensities of :mod:`cmrseg.data.preprocess`, so the image head is linear (no tanh).
"""

from __future__ import annotations

from pathlib import Path
import torch
import torch.nn as nn
import torch.nn.functional as F

from cmrseg.errors import ConfigError

PRESETS: dict[str, dict[str, int]] = {
    "compact": {"dim": 8, "n_down": 2, "n_res": 2, "mlp_dim": 64, "style_dim": 8, "style_down": 4, "kernel": 3,
                "noise": 0},
    "large": {"dim": 64, "n_down": 2, "n_res": 4, "mlp_dim": 256, "style_dim": 8, "style_down": 4, "kernel": 5,
              "noise": 0},
}


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride, padding=(k - 1) // 2 if stride == 1 else 1)


class ResBlock(nn.Module):
    """Two 3x3 convs with instance norm (AdaIN when ``adain``): ``x + norm(conv(relu(norm(conv(x)))))``."""

    def __init__(self, ch: int, adain: bool = False) -> None:
        super().__init__()
        self.conv1, self.conv2 = _conv(ch, ch, 3), _conv(ch, ch, 3)
        self.adain = adain
        self.ch = ch

    def forward(self, x: torch.Tensor, params: torch.Tensor | None = None) -> torch.Tensor:
        """``params``: ``(N, 4 ch)`` AdaIN (scale, shift) of both norms, needed when ``adain``."""
        def norm(y: torch.Tensor, i: int) -> torch.Tensor:
            y = F.instance_norm(y)
            if not self.adain:
                return y
            assert params is not None
            g, b = params[:, 2 * i * self.ch : (2 * i + 2) * self.ch].chunk(2, 1)
            return y * (1 + g[:, :, None, None]) + b[:, :, None, None]

        return x + norm(self.conv2(F.relu(norm(self.conv1(x), 0))), 1)


class ContentEncoder(nn.Module):
    """conv k -> IN -> ReLU, ``n_down`` stride-2 conv4 (channels x2), ``n_res`` residual blocks (IN)."""

    def __init__(self, in_ch: int, dim: int, n_down: int, n_res: int, k: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv(in_ch, dim, k), nn.InstanceNorm2d(dim), nn.ReLU(inplace=True)]
        for _ in range(n_down):
            layers += [_conv(dim, 2 * dim, 4, 2), nn.InstanceNorm2d(2 * dim), nn.ReLU(inplace=True)]
            dim *= 2
        self.down = nn.Sequential(*layers)
        self.res = nn.ModuleList(ResBlock(dim) for _ in range(n_res))
        self.out_channels = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)
        for block in self.res:
            x = block(x)
        return x


class StyleEncoder(nn.Module):
    """Stride-2 convs (no norm: style lives in the statistics norms would remove) -> global pool -> 1x1 conv."""

    def __init__(self, in_ch: int, dim: int, style_dim: int, n_down: int, k: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv(in_ch, dim, k), nn.ReLU(inplace=True)]
        for i in range(n_down):
            nxt = dim * 2 if i < 2 else dim
            layers += [_conv(dim, nxt, 4, 2), nn.ReLU(inplace=True)]
            dim = nxt
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv2d(dim, style_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x).mean(dim=(-2, -1), keepdim=True))[:, :, 0, 0]


class Decoder(nn.Module):
    """Residual blocks (AdaIN from a style MLP, or IN), ``n_up`` x (nearest x2 -> conv k -> layer norm -> ReLU,
    channels / 2), conv k to ``out_ch``. ``style_dim = 0``: no style (the label decoder)."""

    def __init__(self, in_ch: int, out_ch: int, n_up: int, n_res: int, style_dim: int = 0, mlp_dim: int = 64,
                 k: int = 3) -> None:
        super().__init__()
        adain = style_dim > 0
        self.res = nn.ModuleList(ResBlock(in_ch, adain) for _ in range(n_res))
        self.mlp = (nn.Sequential(nn.Linear(style_dim, mlp_dim), nn.ReLU(inplace=True), nn.Linear(mlp_dim, mlp_dim),
                                  nn.ReLU(inplace=True), nn.Linear(mlp_dim, 4 * in_ch * n_res)) if adain else None)
        ups: list[nn.Module] = []
        ch = in_ch
        for _ in range(n_up):
            ups += [nn.Upsample(scale_factor=2, mode="nearest"), _conv(ch, ch // 2, k), nn.GroupNorm(1, ch // 2),
                    nn.ReLU(inplace=True)]
            ch //= 2
        self.up = nn.Sequential(*ups)
        self.out = _conv(ch, out_ch, k)
        self.in_ch = in_ch

    def forward(self, content: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        x = content
        params = self.mlp(style) if self.mlp is not None else None
        for i, block in enumerate(self.res):
            x = block(x, None if params is None else params[:, 4 * self.in_ch * i : 4 * self.in_ch * (i + 1)])
        return self.out(self.up(x))


class PositionClassifier(nn.Module):
    """Slice-position class (base .. apex) from a content code: conv3 s2 -> ReLU -> global pool -> linear."""

    def __init__(self, in_ch: int, n_classes: int = 5, hidden: int = 32) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, hidden, 3, 2, 1)
        self.fc = nn.Linear(hidden, n_classes)

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.conv(content)).mean(dim=(-2, -1)))


class Label2Image(nn.Module):
    """MUNIT-style translator between ``num_classes``-channel label maps and ``in_channels``-channel images.

    Args:
        preset: ``"compact"`` (CPU) or ``"large"`` (GPU); see :data:`PRESETS`.
        num_classes: label-map channels (4: BG, RV, Myo, LV).
        in_channels: image channels.
        position_classes: classes of the slice-position classifier on the content code (L_SC; 0 = none).
        **overrides: ``dim`` (first width), ``n_down`` (content at 1 / 2^n_down), ``n_res``, ``mlp_dim``,
            ``style_dim``, ``style_down`` (stride-2 stages of the style encoder), ``kernel`` (side of the
            non-strided convs outside the residual blocks; MUNIT uses 7 / 5), ``noise`` (channels of smooth
            spatial Gaussian noise fed to the label content encoder beside the one-hot map; 0 = MUNIT). A label
            map's background is one constant class and the style code is global, so without spatial noise the
            generator can only paint a flat background far from the heart; noise lets it place texture
            (lungs, liver, chest wall) that differs between samples of the same label map.

    Example:
        >>> t = Label2Image().eval()
        >>> t.translate(torch.zeros(2, 4, 64, 64), t.sample_style(2)).shape
        torch.Size([2, 1, 64, 64])
    """

    def __init__(self, preset: str = "compact", num_classes: int = 4, in_channels: int = 1,
                 position_classes: int = 5, **overrides: int) -> None:
        super().__init__()
        if preset not in PRESETS:
            raise ConfigError(f"unknown label2image preset '{preset}'. Valid: {sorted(PRESETS)}.")
        unknown = set(overrides) - set(PRESETS[preset])
        if unknown:
            raise ConfigError(f"unknown label2image parameters {sorted(unknown)}; valid: {sorted(PRESETS[preset])}")
        p = {**PRESETS[preset], **{k: int(v) for k, v in overrides.items()}}
        self.num_classes, self.style_dim = num_classes, p["style_dim"]
        k = p["kernel"]
        self.noise_channels = p["noise"]
        self.content_label = ContentEncoder(num_classes + self.noise_channels, p["dim"], p["n_down"], p["n_res"], k)
        self.content_image = ContentEncoder(in_channels, p["dim"], p["n_down"], p["n_res"], k)
        self.style_image = StyleEncoder(in_channels, p["dim"], p["style_dim"], p["style_down"], k)
        cc = self.content_label.out_channels
        self.image_decoder = Decoder(cc, in_channels, p["n_down"], p["n_res"], p["style_dim"], p["mlp_dim"], k)
        self.label_decoder = Decoder(cc, num_classes, p["n_down"], p["n_res"], k=k)
        self.position_head = PositionClassifier(cc, position_classes) if position_classes else None
        self.divisor = 2 ** p["n_down"]

    def _check(self, x: torch.Tensor, channels: int, what: str) -> None:
        if x.ndim != 4 or x.shape[1] != channels:
            raise ValueError(f"label2image expects {what} (N, {channels}, H, W), got {tuple(x.shape)}")
        if x.shape[-1] % self.divisor or x.shape[-2] % self.divisor:
            raise ValueError(f"label2image input sides must be divisible by {self.divisor}, got {tuple(x.shape[-2:])}")

    def noise_shape(self, h: int, w: int) -> tuple[int, int, int]:
        """Shape of one map's coarse noise (channels, h / 4, w / 4); :meth:`smooth_noise` brings it to (h, w)."""
        return self.noise_channels, max(1, h // 4), max(1, w // 4)

    @staticmethod
    def smooth_noise(coarse: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return F.interpolate(coarse, size=size, mode="bilinear", align_corners=False)

    def sample_noise(self, label_onehot: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Smooth spatial noise ``(N, noise, H, W)``: N(0, 1) on a grid 4x coarser, upsampled bilinearly."""
        n, _, h, w = label_onehot.shape
        coarse = torch.randn(n, *self.noise_shape(h, w), generator=generator)
        return self.smooth_noise(coarse.to(label_onehot), (h, w))

    def encode_label(self, label_onehot: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Content code ``(N, C, H / d, W / d)`` of one-hot (or soft) label maps (+ spatial noise, drawn when
        ``noise`` is None, if the model has noise channels)."""
        self._check(label_onehot, self.num_classes, "label maps")
        if self.noise_channels:
            noise = self.sample_noise(label_onehot) if noise is None else noise
            label_onehot = torch.cat([label_onehot, noise.to(label_onehot)], 1)
        return self.content_label(label_onehot)

    def encode_image(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(content, style)`` of images."""
        self._check(image, self.content_image.down[0].in_channels, "images")
        return self.content_image(image), self.style_image(image)

    def decode_image(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.image_decoder(content, style)

    def decode_label(self, content: torch.Tensor) -> torch.Tensor:
        """Label logits of a content code."""
        return self.label_decoder(content)

    def sample_style(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` style codes from the prior N(0, I)."""
        return torch.randn(n, self.style_dim, generator=generator)

    def translate(self, label_onehot: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None
                  ) -> torch.Tensor:
        """Synthetic image ``(N, 1, H, W)`` of label maps ``(N, num_classes, H, W)`` in style ``(N, style_dim)``
        (spatial noise from :meth:`sample_noise` when the model has noise channels and ``noise`` is None)."""
        return self.decode_image(self.encode_label(label_onehot, noise), style)

    def forward(self, label_onehot: torch.Tensor, image: torch.Tensor, style: torch.Tensor | None = None,
                image_to_label: bool = False) -> dict[str, torch.Tensor]:
        """One MUNIT pass over unpaired label maps (A) and images (B): everything the ``t2i_*`` losses read.

        Keys: ``content_label``, ``content_image``, ``style_image``, ``style`` (random, or given),
        ``fake_image`` (A -> B), ``recon_image`` (B -> B), ``recon_label_logits`` (A -> A), ``content_fake`` and
        ``style_fake`` (codes of the fake image), ``cycle_label_logits`` (A -> B -> A), ``real_image``; with a
        position head ``position_logits`` and ``position_logits_fake`` (content of labels / of the fake image);
        with ``image_to_label`` also ``fake_label_logits`` (B -> A) and ``content_fake_label`` (its content).
        """
        c_a = self.encode_label(label_onehot)
        c_b, s_b = self.encode_image(image)
        s = self.sample_style(label_onehot.shape[0]).to(c_a) if style is None else style
        fake = self.decode_image(c_a, s)
        c_fake, s_fake = self.encode_image(fake)
        out = {"content_label": c_a, "content_image": c_b, "style_image": s_b, "style": s, "fake_image": fake,
               "recon_image": self.decode_image(c_b, s_b), "recon_label_logits": self.decode_label(c_a),
               "content_fake": c_fake, "style_fake": s_fake, "cycle_label_logits": self.decode_label(c_fake),
               "real_image": image}
        if self.position_head is not None:
            out["position_logits"] = self.position_head(c_a)
            out["position_logits_fake"] = self.position_head(c_fake)
        if image_to_label:
            fake_label = self.decode_label(c_b)
            out["fake_label_logits"] = fake_label
            out["content_fake_label"] = self.encode_label(torch.softmax(fake_label, 1))
        return out


class MultiScaleDiscriminator(nn.Module):
    """PatchGAN discriminators at ``n_scales`` scales (MUNIT / pix2pixHD): each ``n_layers`` stride-2 conv4 +
    LeakyReLU(0.2) (no norm), then a 1x1 conv to one logit per patch; the input is average-pooled by 2 between
    scales. Returns the list of patch maps (real = 1, fake = 0 under the LSGAN loss)."""

    def __init__(self, in_channels: int = 1, dim: int = 16, n_layers: int = 3, n_scales: int = 3) -> None:
        super().__init__()
        nets = []
        for _ in range(n_scales):
            layers: list[nn.Module] = []
            cin, c = in_channels, dim
            for _ in range(n_layers):
                layers += [_conv(cin, c, 4, 2), nn.LeakyReLU(0.2, inplace=True)]
                cin, c = c, c * 2
            layers.append(nn.Conv2d(cin, 1, 1))
            nets.append(nn.Sequential(*layers))
        self.nets = nn.ModuleList(nets)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, net in enumerate(self.nets):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outs.append(net(x))
        return outs


def load_translator(path: str | Path | None, needed_by: str) -> Label2Image:
    """A trained :class:`Label2Image` from a cmrseg checkpoint, frozen (eval mode, no gradients).

    Raises:
        ConfigError: ``path`` is None or the checkpoint holds another model.
    """
    from cmrseg.models.pretrained import load_pretrained

    return load_pretrained(path, "label2image", needed_by=needed_by,  # type: ignore[return-value]
                           hint="train one with `cmrseg train configs/acdc/translator.yaml`")
