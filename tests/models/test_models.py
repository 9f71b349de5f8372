"""Model shapes, padding, batch independence, parameter counts, ConvLSTM maths, presets."""

import json

import pytest
import torch
import torch.nn.functional as F

from napari_ssdgl.models import PRESETS, SSDGL, FreeNet, build_model, model_config
from napari_ssdgl.models.blocks import GCL, ConvLSTMCell

TINY = {"widths": (16, 32, 48, 64), "decoder_width": 16, "groups": 4}
VARIANTS = [("ssdgl", {}), ("ssdgl", {"variant": "houston"}), ("freenet", {})]


def tiny(name="ssdgl", bands=7, classes=5, **kw):
    torch.manual_seed(0)
    return build_model(name, bands, classes, **{**TINY, **kw})


@pytest.mark.parametrize(("name", "kw"), VARIANTS)
@pytest.mark.parametrize(("h", "w"), [(145, 145), (83, 86)])
def test_output_shape_any_size(name, kw, h, w):
    m = tiny(name, bands=9, classes=4, **kw)
    with torch.no_grad():
        out = m(torch.randn(2, 9, h, w))
    assert out.shape == (2, 4, h, w)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(("name", "kw"), VARIANTS)
def test_padding_is_bottom_right_zeros_and_crop_top_left(name, kw):
    m = tiny(name, **kw)
    x = torch.randn(1, 7, 37, 21)
    with torch.no_grad():
        out = m(x)
        ref = m(F.pad(x, (0, 32 - 21, 0, 48 - 37)))[..., :37, :21]
        feats = m.features(x)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    assert feats.shape == (1, 7, 37, 21)


@pytest.mark.parametrize(("name", "kw"), VARIANTS)
def test_batch_independence(name, kw):
    m = tiny(name, **kw)
    x = torch.randn(2, 7, 30, 33)
    with torch.no_grad():
        both, first = m(x), m(x[:1])
    torch.testing.assert_close(both[:1], first, atol=1e-5, rtol=1e-4)


def test_logits_at_matches_dense():
    m = tiny()
    x = torch.randn(2, 7, 20, 18)
    rows, cols = torch.tensor([0, 5, 19]), torch.tensor([17, 3, 0])
    with torch.no_grad():
        dense = m(x)[:, :, rows, cols].transpose(1, 2)
        sparse = m.logits_at(m.features(x), rows, cols)
    torch.testing.assert_close(sparse, dense, atol=1e-5, rtol=1e-5)


def conv(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


def gn(c):
    return 2 * c


def expected_ssdgl_params(bands, classes, widths, d, k=3, r=16, t=8):
    n = conv(bands, widths[0], 3) + gn(widths[0])  # stem
    for a, b in zip(widths, widths[1:], strict=False):
        n += conv(a, b, 3)  # stride-2 downsampling
    for c in widths:
        h1, h2 = c // t, c // (2 * t)
        n += conv(c // t + h1, 4 * h1, k)  # ConvLSTM layer 1, fused x/h gate conv
        n += conv(h1 + h2, 4 * h2, k)  # ConvLSTM layer 2
        half, hid = c // 2, c // 2 // r
        n += half * hid + hid * half  # channel-attention MLP (no bias)
        n += 2 * 7 * 7  # spatial-attention 7x7 conv (no bias)
        n += gn(c)  # stage GroupNorm
    n += sum(conv(c, d, 1) for c in widths)  # laterals
    n += 3 * (conv(d, d, 3) + gn(d)) + conv(d, bands, 3)  # p4, p3, p2, p1
    return n + conv(bands, classes, 1)  # classifier


def test_parameter_count_indian_pines():
    m = build_model("ssdgl", 200, 16, preset="indian_pines")
    got = sum(p.numel() for p in m.parameters())
    want = expected_ssdgl_params(200, 16, (128, 192, 256, 320), 192)
    print(f"SSDGL Indian Pines parameters: {got:,}")  # authors' model: about 3.5 M
    assert got == want == 3_503_168


def test_parameter_count_freenet_default():
    m = build_model("freenet", 103, 9)
    widths, d = (96, 128, 192, 256), 128
    want = conv(103, 96, 3) + gn(96)
    want += sum(conv(a, b, 3) for a, b in zip(widths, widths[1:], strict=False))
    for c in widths:
        want += (c * (c // 16) + c // 16) + (c // 16 * c + c)  # SE: two Linear layers
        want += conv(c, c, 3) + gn(c)
    want += sum(conv(c, d, 1) for c in widths) + 3 * conv(d, d, 3) + conv(d, 103, 3)
    want += conv(103, 9, 1)
    assert sum(p.numel() for p in m.parameters()) == want


def reference_lstm_step(cell, x, h, c):
    """Textbook ConvLSTM: conv_x(x) + conv_h(h), the same weights split in two convs."""
    cin, n, pad = cell.in_channels, cell.hidden_channels, cell.padding
    w, b = cell.gates.weight, cell.gates.bias
    z = F.conv2d(x, w[:, :cin], b, padding=pad) + F.conv2d(h, w[:, cin:], padding=pad)
    i, f, o, g = z.split(n, dim=1)  # the cell's documented gate order
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


@pytest.mark.parametrize("k", [3, 5])
def test_fused_convlstm_cell_equals_two_conv_reference(k):
    torch.manual_seed(1)
    cell = ConvLSTMCell(6, 4, k)
    x, h, c = torch.randn(2, 6, 9, 11), torch.randn(2, 4, 9, 11), torch.randn(2, 4, 9, 11)
    got = cell(x, (h, c))
    want = reference_lstm_step(cell, x, h, c)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    zeros = torch.zeros(2, 4, 9, 11)
    for a, b in zip(cell(x), reference_lstm_step(cell, x, zeros, zeros), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_gcl_runs_along_channels_causally():
    torch.manual_seed(2)
    gcl = GCL(32, time_steps=8)
    x = torch.randn(1, 32, 6, 6)
    y = x.clone()
    y[:, 28:] += 1.0  # perturb only the last time step (channel group)
    with torch.no_grad():
        a, b = gcl(x), gcl(y)
    assert a.shape == (1, 16, 6, 6)  # T * C/16 = C/2
    torch.testing.assert_close(a[:, :14], b[:, :14])  # earlier steps untouched
    assert not torch.allclose(a[:, 14:], b[:, 14:])


@pytest.mark.parametrize(("name", "kw"), VARIANTS)
def test_gradient_reaches_every_parameter(name, kw):
    # 16-channel stages with r=16 leave a 1-unit attention MLP whose ReLU may be dead at init
    m = tiny(name, reduction=2, **{**kw, "widths": (32, 48, 64, 96)})
    x = torch.randn(2, 7, 24, 20)
    target = torch.randint(0, 5, (2, 24, 20))
    loss = F.cross_entropy(m(x), target)
    loss.backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


@pytest.mark.parametrize(("name", "kw"), VARIANTS)
def test_build_model_config_round_trip(name, kw):
    m = tiny(name, bands=11, classes=3, **kw)
    cfg = json.loads(json.dumps(model_config(m)))
    assert m.config == cfg and m.name == name
    m2 = build_model(m.name, **cfg)
    m2.load_state_dict(m.state_dict())
    x = torch.randn(1, 11, 17, 19)
    with torch.no_grad():
        torch.testing.assert_close(m(x), m2(x))


def test_presets_build_both_models():
    with torch.device("meta"):
        for preset in PRESETS:
            for name in ("ssdgl", "freenet"):
                m = build_model(name, 30, 4, preset=preset)
                assert m.config["widths"] == PRESETS[preset]["widths"]
    ip = PRESETS["indian_pines"]
    assert ip["widths"] == [128, 192, 256, 320] and ip["decoder_width"] == 192
    assert PRESETS["few_samples"]["groups"] == 4 and PRESETS["few_samples"]["gcl_kernel"] == 5
    assert PRESETS["default"] == PRESETS["pavia_university"]
    m = build_model("ssdgl", 5, 2, preset="few_samples", gcl_kernel=3, widths=(16, 32, 48, 64))
    assert m.config["gcl_kernel"] == 3 and m.config["groups"] == 4
    assert isinstance(build_model("FreeNet", 5, 2, **TINY), FreeNet)
    assert isinstance(build_model("ssdgl", 5, 2, **TINY), SSDGL)


@pytest.mark.parametrize("kw", [
    {"widths": (24, 32, 48, 64)},  # 24/16 is not whole: no C/16 ConvLSTM hidden size
    {"widths": (16, 32, 48)},
    {"widths": (16, 32, 48, 64), "groups": 3},
    {"widths": (16, 32, 48, 64), "groups": 4, "decoder_width": 18},
    {"gcl_kernel": 4},
    {"variant": "nope"},
])
def test_bad_config_raises_value_error(kw):
    with pytest.raises(ValueError):
        build_model("ssdgl", 5, 2, **{**TINY, **kw})


def test_unknown_names_raise_value_error():
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet", 5, 2)
    with pytest.raises(ValueError, match="unknown preset"):
        build_model("ssdgl", 5, 2, preset="mars")
    with pytest.raises(ValueError, match="no option"):
        build_model("freenet", 5, 2, gcl_kernel=3)
    with pytest.raises(ValueError):
        FreeNet(5, 2, widths=(10, 20, 30, 40), groups=4)
