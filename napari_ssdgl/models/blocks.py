"""Layers shared by SSDGL and FreeNet, and the encoder-decoder skeleton both are built on.

The skeleton (stem, four stages, FPN decoder, 1x1 classifier, pad-to-16 and crop) lives here so
that ``ssdgl.py`` and ``freenet.py`` only say what differs: the stage block and the decoder's
fuse convs and upsampling.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PAD_MULTIPLE = 16


def conv3x3_gn_relu(cin: int, cout: int, groups: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(groups, cout), nn.ReLU())


def downsample2x(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.ReLU())


class ConvLSTMCell(nn.Module):
    """One ConvLSTM step (no peepholes) whose four gates come from ONE conv over cat([x, h]).

    A single conv over the concatenation equals conv_x(x) + conv_h(h) with one bias, but is one
    kernel launch instead of two. Gate channel order is (i, f, o, g) so the three sigmoid gates
    are one contiguous slice. ``state=None`` is the zero initial state: only the input half of
    the kernel is used (no conv over zeros) and c = i * g.
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3):
        super().__init__()
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.padding = kernel_size // 2
        self.gates = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size,
                               padding=self.padding)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, Tensor]:
        n = self.hidden_channels
        if state is None:
            z = F.conv2d(x, self.gates.weight[:, : self.in_channels], self.gates.bias,
                         padding=self.padding)
            sig = torch.sigmoid(z[:, : 3 * n])
            c = sig[:, :n] * torch.tanh(z[:, 3 * n:])
        else:
            h, c = state
            z = self.gates(torch.cat([x, h], dim=1))
            sig = torch.sigmoid(z[:, : 3 * n])
            c = sig[:, n: 2 * n] * c + sig[:, :n] * torch.tanh(z[:, 3 * n:])
        h = sig[:, 2 * n:] * torch.tanh(c)
        return h, c


class GCL(nn.Module):
    """Global ConvLSTM: a stacked ConvLSTM run along the channel (spectral) axis.

    The C channels are split into T consecutive groups (the time steps). With ``layers=2`` (the
    paper) layer 1 has C/T hidden channels and layer 2 C/(2T), so the concatenated layer-2 hidden
    states of all steps have C/2 channels; ``layers=1`` (Houston variant) gives C channels.
    """

    def __init__(self, channels: int, time_steps: int = 8, kernel_size: int = 3,
                 layers: int = 2):
        super().__init__()
        step = channels // time_steps
        hidden = [step, step // 2][:layers]
        self.time_steps = time_steps
        self.cells = nn.ModuleList(
            ConvLSTMCell(cin, hid, kernel_size)
            for cin, hid in zip([step, *hidden[:-1]], hidden, strict=True))
        self.out_channels = time_steps * hidden[-1]

    def forward(self, x: Tensor) -> Tensor:
        states: list = [None] * len(self.cells)
        outs = []
        for h in x.chunk(self.time_steps, dim=1):
            for j, cell in enumerate(self.cells):
                states[j] = cell(h, states[j])
                h = states[j][0]
            outs.append(h)
        return torch.cat(outs, dim=1)


class PooledGate(nn.Module):
    """A module of the form ``x * gate(mean(x), max(x))``, pooled over all of H x W. Tiled
    prediction (prediction.tiling) finds these by this class, measures their pools over the
    whole scene and imposes the gate, so a subclass must keep that form."""


class ChannelAttention(PooledGate):
    """CBAM-style channel gate a = sigmoid(mlp(avg) + mlp(max)), applied residually: x*a + x."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)  # tiny test widths would otherwise get 0
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=False), nn.ReLU(),
                                 nn.Conv2d(hidden, channels, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        avg = x.mean(dim=(2, 3), keepdim=True)
        mx = x.amax(dim=(2, 3), keepdim=True)
        a = torch.sigmoid(self.mlp(torch.cat([avg, mx], dim=0)).view(2, *avg.shape).sum(0))
        return x * a + x


class SpatialAttention(nn.Module):
    """CBAM-style spatial gate from a 7x7 conv over channel-mean and channel-max: x*s + x."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        stats = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(stats)) + x


class GJAM(nn.Module):
    """Global joint attention: concat(channel-attended x, spatially-attended x) -> 2x channels."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention()

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.channel(x), self.spatial(x)], dim=1)


class SEBlock(PooledGate):
    """Squeeze-and-excitation: GAP -> FC C->C/r -> ReLU -> FC -> sigmoid -> scale."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(),
                                nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.fc(x.mean(dim=(2, 3)))[:, :, None, None]


def check_widths(widths, decoder_width: int, groups: int, divisor: int = 1) -> tuple[int, ...]:
    """Validate stage widths: 4 positive ints, multiples of GN ``groups`` and of ``divisor``."""
    widths = tuple(int(w) for w in widths)
    if len(widths) != 4 or min(widths) < 1:
        raise ValueError(f"widths must be 4 positive channel counts, got {widths}")
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    for w in widths:
        if w % groups:
            raise ValueError(f"width {w} is not a multiple of the GroupNorm groups ({groups})")
        if w % divisor:
            raise ValueError(f"width {w} is not a multiple of {divisor}")
    if decoder_width < 1 or decoder_width % groups:
        raise ValueError(f"decoder_width {decoder_width} must be a positive multiple of the "
                         f"GroupNorm groups ({groups})")
    return widths


class EncoderDecoder(nn.Module):
    """Patch-free FCN skeleton: stem, 4 stages (3 stride-2), FPN decoder, 1x1 classifier.

    Subclasses give the stage block to ``_build_encoder`` and the fuse convs (top-down order p4,
    p3, p2, p1; p1 maps d -> bands) to ``_build_decoder``, and set ``up_mode``.
    The input is zero-padded bottom/right to a multiple of 16 and everything is cropped back.
    """

    name = ""
    up_mode = "bilinear"

    def _build_encoder(self, in_channels: int, widths, groups: int,
                       block: Callable[[int], nn.Module]) -> None:
        self.stem = conv3x3_gn_relu(in_channels, widths[0], groups)
        self.downs = nn.ModuleList(downsample2x(a, b) for a, b in pairwise(widths))
        self.stages = nn.ModuleList(block(w) for w in widths)

    def _build_decoder(self, widths, in_channels: int, num_classes: int, decoder_width: int,
                       fuse: list[nn.Module]) -> None:
        self.laterals = nn.ModuleList(nn.Conv2d(w, decoder_width, 1) for w in widths)
        self.fuse = nn.ModuleList(fuse)
        self.classifier = nn.Conv2d(in_channels, num_classes, 1)

    def _up(self, x: Tensor, like: Tensor) -> Tensor:
        kw = {"align_corners": False} if self.up_mode == "bilinear" else {}
        return F.interpolate(x, size=like.shape[-2:], mode=self.up_mode, **kw)

    def lateral(self, i: int, f: Tensor) -> Tensor:
        return self.laterals[i](f)

    def head_input(self, x: Tensor) -> Tensor:
        """``l1 + up2(p2)`` on the padded grid (N, d, Hp, Wp): the input of the last fuse conv.

        Everything up to here runs at most at full resolution on d channels; the last fuse conv
        (d -> bands) and the classifier are left to the caller so that training can evaluate
        them only at the sampled pixels (:meth:`sampled_logits`).
        """
        h, w = x.shape[-2:]
        ph, pw = -h % PAD_MULTIPLE, -w % PAD_MULTIPLE
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph))
        x = self.stages[0](self.stem(x))
        feats = [x]
        for down, stage in zip(self.downs, self.stages[1:], strict=True):
            x = stage(down(x))
            feats.append(x)
        lat = [self.lateral(i, f) for i, f in enumerate(feats)]
        p = self.fuse[0](lat[3])
        for fuse, l in zip(self.fuse[1:3], lat[2:0:-1], strict=True):
            p = fuse(l + self._up(p, l))
        return lat[0] + self._up(p, lat[0])

    def features(self, x: Tensor) -> Tensor:
        """The decoder's ``bands``-channel map (N, B, H, W), before the classifier."""
        h, w = x.shape[-2:]
        return self.fuse[3](self.head_input(x))[..., :h, :w]

    def forward(self, x: Tensor) -> Tensor:
        """Dense logits (N, K, H, W) for input (N, bands, H, W), any N, H, W."""
        return self.classifier(self.features(x))

    def logits_at(self, features: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
        """Logits (N, P, K) at pixels (rows, cols) of a ``features`` map, skipping the dense map."""
        w = self.classifier.weight.flatten(1)
        return F.linear(features[:, :, rows, cols].transpose(1, 2), w, self.classifier.bias)

    def folded_logits(self, x: Tensor) -> Tensor:
        """Dense logits like :meth:`forward`, with the last fuse conv and the classifier folded
        into ONE d -> K 3x3 conv (there is no nonlinearity between them).

        For Indian Pines that replaces a 192 -> 200 channel conv plus a 200 -> 16 one at full
        resolution by a 192 -> 16 conv: about a quarter of the forward FLOPs. Equal to
        ``forward`` up to float rounding; falls back to it without a plain conv head.
        """
        if not self.supports_sampled_head:
            return self(x)
        h, w = x.shape[-2:]
        conv, cls = self.fuse[3], self.classifier
        wk = cls.weight.flatten(1)  # (K, B)
        weight = torch.einsum("kb,bdij->kdij", wk, conv.weight)
        bias = cls.bias if conv.bias is None else cls.bias + wk @ conv.bias
        return F.conv2d(self.head_input(x), weight, bias, padding=1)[..., :h, :w]

    @property
    def supports_sampled_head(self) -> bool:
        """True when the last fuse is a plain 3x3 conv (not the Houston variant's conv + ReLU)."""
        last = self.fuse[3]
        return isinstance(last, nn.Conv2d) and last.kernel_size == (3, 3) and \
            last.padding == (1, 1) and last.stride == (1, 1)

    def sampled_logits(self, x: Tensor, index: Tensor) -> Tensor:
        """Logits (P, K) at the flat pixel ``index`` into the (N, H, W) grid of ``x``.

        Equal to ``gather(forward(x), index)`` but the full-resolution d -> bands 3x3 conv and
        the classifier (about a third of a dense training step for Indian Pines) run only at the
        P pixels: their 3x3 neighbourhoods are gathered from the zero-padded head input and
        multiplied with the conv weight. The backward pass scatters into those neighbourhoods
        only. Needs :attr:`supports_sampled_head`.
        """
        if not self.supports_sampled_head:
            raise NotImplementedError(f"{type(self).__name__} has no sampled-pixel head")
        h, w = x.shape[-2:]
        pre = F.pad(self.head_input(x), (1, 1, 1, 1))  # the conv's own zero padding
        n, rc = index // (h * w), index % (h * w)
        taps = torch.arange(3, device=index.device)
        rows = (rc // w)[:, None, None] + taps[None, :, None]  # (P, 3, 1)
        cols = (rc % w)[:, None, None] + taps[None, None, :]  # (P, 1, 3)
        patches = pre.permute(0, 2, 3, 1)[n[:, None, None], rows, cols]  # (P, 3, 3, d)
        conv = self.fuse[3]
        weight = conv.weight.permute(0, 2, 3, 1).reshape(conv.out_channels, -1)
        feats = F.linear(patches.reshape(patches.shape[0], -1), weight, conv.bias)
        return F.linear(feats, self.classifier.weight.flatten(1), self.classifier.bias)
