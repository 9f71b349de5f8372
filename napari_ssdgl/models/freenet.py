"""FreeNet (Zheng et al., IEEE TGRS 2020): the patch-free FCN baseline SSDGL builds on.

Same skeleton as SSDGL; the stage block is SE -> conv3x3 + GN + ReLU and the decoder uses plain
3x3 fuse convs with nearest-neighbour upsampling.
"""

from __future__ import annotations

from torch import nn

from napari_ssdgl.models.blocks import EncoderDecoder, SEBlock, check_widths, conv3x3_gn_relu


class FreeNet(EncoderDecoder):
    """FreeNet baseline: (N, B, H, W) -> logits (N, K, H, W)."""

    name = "freenet"
    up_mode = "nearest"

    def __init__(self, in_channels: int, num_classes: int,
                 widths: tuple[int, ...] = (96, 128, 192, 256), decoder_width: int = 128,
                 groups: int = 8, reduction: int = 16):
        super().__init__()
        if in_channels < 1 or num_classes < 1 or reduction < 1:
            raise ValueError("need >= 1 band, class and reduction, got "
                             f"{in_channels}, {num_classes}, {reduction}")
        widths = check_widths(widths, decoder_width, groups)
        self.config = {
            "in_channels": int(in_channels), "num_classes": int(num_classes),
            "widths": list(widths), "decoder_width": int(decoder_width), "groups": int(groups),
            "reduction": int(reduction),
        }
        self._build_encoder(in_channels, widths, groups, lambda w: nn.Sequential(
            SEBlock(w, reduction), conv3x3_gn_relu(w, w, groups)))
        d = decoder_width
        fuse = [nn.Conv2d(d, d, 3, padding=1) for _ in range(3)]
        fuse.append(nn.Conv2d(d, in_channels, 3, padding=1))
        self._build_decoder(widths, in_channels, num_classes, d, fuse)
