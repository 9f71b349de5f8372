"""SSDGL (Zhu et al., IEEE TCYB 2022): FreeNet's patch-free FCN with GCL + GJAM stage blocks.

See docs/SSDGL.md. Stage block = GCL (ConvLSTM along the spectral axis) -> GJAM (channel and
spatial attention) -> GroupNorm -> ReLU. ``variant="houston"`` is the authors' later GRSS2013
code: conv + GN -> one ConvLSTM layer -> channel attention -> GN + ReLU, spatial attention on
the decoder laterals and a ReLU on the decoder output (the trainer may add the auxiliary
reconstruction loss on ``features``).
"""

from __future__ import annotations

from torch import Tensor, nn

from napari_ssdgl.models.blocks import (
    GCL,
    GJAM,
    ChannelAttention,
    EncoderDecoder,
    SpatialAttention,
    check_widths,
    conv3x3_gn_relu,
)

VARIANTS = ("standard", "houston")


def ssdgl_block(channels: int, groups: int, kernel: int, reduction: int, time_steps: int
                ) -> nn.Sequential:
    """GCL (C -> C/2) -> GJAM (C/2 -> C) -> GroupNorm -> ReLU."""
    return nn.Sequential(GCL(channels, time_steps, kernel),
                         GJAM(channels // 2, reduction),
                         nn.GroupNorm(groups, channels), nn.ReLU())


def houston_block(channels: int, groups: int, kernel: int, reduction: int, time_steps: int
                  ) -> nn.Sequential:
    """conv3x3 + GN -> 1-layer GCL (C -> C) -> channel attention -> GN -> ReLU."""
    return nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1),
                         nn.GroupNorm(groups, channels),
                         GCL(channels, time_steps, kernel, layers=1),
                         ChannelAttention(channels, reduction),
                         nn.GroupNorm(groups, channels), nn.ReLU())


class SSDGL(EncoderDecoder):
    """Spectral-spatial-dependent global learning network: (N, B, H, W) -> logits (N, K, H, W)."""

    name = "ssdgl"
    up_mode = "bilinear"

    def __init__(self, in_channels: int, num_classes: int,
                 widths: tuple[int, ...] = (96, 128, 192, 256), decoder_width: int = 128,
                 groups: int = 8, gcl_kernel: int = 3, reduction: int = 16, time_steps: int = 8,
                 variant: str = "standard"):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown SSDGL variant {variant!r}; expected one of {VARIANTS}")
        if time_steps < 1 or gcl_kernel < 1 or gcl_kernel % 2 == 0 or reduction < 1:
            raise ValueError("time_steps and reduction must be >= 1 and gcl_kernel a positive odd"
                             f" number, got {time_steps}, {reduction}, {gcl_kernel}")
        if in_channels < 1 or num_classes < 1:
            raise ValueError(f"need >= 1 band and class, got {in_channels}, {num_classes}")
        # the layer-2 hidden size C/(2T) must be a whole number (C/T for the Houston variant)
        divisor = time_steps * (2 if variant == "standard" else 1)
        widths = check_widths(widths, decoder_width, groups, divisor)
        self.config = {
            "in_channels": int(in_channels), "num_classes": int(num_classes),
            "widths": list(widths), "decoder_width": int(decoder_width), "groups": int(groups),
            "gcl_kernel": int(gcl_kernel), "reduction": int(reduction),
            "time_steps": int(time_steps), "variant": variant,
        }
        block = ssdgl_block if variant == "standard" else houston_block
        self._build_encoder(in_channels, widths, groups,
                            lambda w: block(w, groups, gcl_kernel, reduction, time_steps))
        d = decoder_width
        fuse = [conv3x3_gn_relu(d, d, groups) for _ in range(3)]
        last = nn.Conv2d(d, in_channels, 3, padding=1)
        fuse.append(last if variant == "standard" else nn.Sequential(last, nn.ReLU()))
        self._build_decoder(widths, in_channels, num_classes, d, fuse)
        if variant == "houston":
            self.lateral_attention = nn.ModuleList(SpatialAttention() for _ in widths)

    def lateral(self, i: int, f: Tensor) -> Tensor:
        l = self.laterals[i](f)
        if self.config["variant"] == "houston":
            l = self.lateral_attention[i](l)
        return l
