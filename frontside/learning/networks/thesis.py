"""The networks: ours (thesis table 4.1), its front-only variant, and PRN's ResFCN256 baseline.

All take (B, C, 256, 256) images in [0, 1] and return (B, 3, 256, 256) in [0, 1]: the position map divided by
256 * 1.1, as PRN normalises it.

Padding follows TensorFlow/Keras "same", which both originals used, so a layer sees exactly the pixels it saw
there: at stride 2 an even input is padded 0 before and k - 2 after (PyTorch's symmetric `padding=1` would
shift every sample by half a pixel); a kernel-4 convolution at stride 1 is padded 1 before, 2 after.
"""

from __future__ import annotations

import torch
from torch import nn

from frontside.learning.networks.options import DECODER_NORMS

BN_EPS = 1e-3  # Keras' and tf.contrib's batch-norm epsilon (PyTorch's default is 1e-5)


def same_padding(kernel: int, stride: int) -> nn.ZeroPad2d:
    """TF "same" padding of a convolution on an even-sized input: max(k - s, 0) in total, the odd pixel after."""
    total = max(kernel - stride, 0)
    before = total // 2
    return nn.ZeroPad2d((before, total - before, before, total - before))


def width_of(channels: int, width: float) -> int:
    """`channels` scaled by the width multiplier, a multiple of 8 (MobileNetV2's `_make_divisible`)."""
    if width == 1.0:
        return channels
    scaled = max(8, int(channels * width + 4) // 8 * 8)
    return scaled + 8 if scaled < 0.9 * channels * width else scaled


class ConvBlock(nn.Sequential):
    """Keras MobileNetV2's `_conv_block`: convolution (with bias, as Keras' default), batch norm, ReLU6."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, groups: int = 1):
        super().__init__(same_padding(kernel, stride), nn.Conv2d(cin, cout, kernel, stride, 0, groups=groups),
                         nn.BatchNorm2d(cout, eps=BN_EPS), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """MobileNetV2's inverted residual with linear bottleneck (thesis 2.2.2, fig. 2.4): 1x1 expansion to
    t * cin channels, 3x3 depthwise convolution (carrying the stride), 1x1 linear projection to cout; the input
    is added back on the repeats of a stage (stride 1, same width).

    As in the Keras implementation the thesis used, the 1x1 expansion exists even for t = 1.
    """

    def __init__(self, cin: int, cout: int, stride: int, expansion: int, residual: bool):
        super().__init__()
        hidden = cin * expansion
        if residual and (stride != 1 or cin != cout):
            raise ValueError("a residual inverted-residual block needs stride 1 and cin == cout")
        self.residual = residual
        self.expand = ConvBlock(cin, hidden, 1, 1)
        self.depthwise = ConvBlock(hidden, hidden, 3, stride, groups=hidden)
        self.project = nn.Sequential(nn.Conv2d(hidden, cout, 1), nn.BatchNorm2d(cout, eps=BN_EPS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


# MobileNetV2's bottleneck groups (expansion t, output channels c, repeats n, first stride s), as in the Keras
# implementation the thesis's network is built from. Table 4.1 lists this encoder by its four stride-2
# depthwise outputs: 64x64x96 (16 * 6), 32x32x144 (24 * 6), 16x16x192 (32 * 6) and 8x8x576 (96 * 6).
MOBILENET_V2_GROUPS: list[tuple[int, int, int, int]] = [
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
]

# the 17 transposed convolutions of table 4.1 (= PRN's decoder): (output channels, stride)
DECODER: list[tuple[int, int]] = [
    (512, 1), (256, 2), (256, 1), (256, 1), (128, 2), (128, 1), (128, 1), (64, 2), (64, 1), (64, 1),
    (32, 2), (32, 1), (16, 2), (16, 1), (3, 1), (3, 1), (3, 1),
]


class TransposedConv(nn.Module):
    """A kernel-4 transposed convolution with TF "same" output size: in * stride.

    Stride 2 is `nn.ConvTranspose2d(k=4, s=2, padding=1)`, which is TF's alignment. At stride 1, TF's result is
    `nn.ConvTranspose2d(k=4, s=1, padding=1)` with its last row and column dropped; we compute the identical
    function as a convolution with the flipped kernel, padded 2 before and 1 after (20 % faster on CPU, and no
    257 x 257 intermediate). `tests/test_model.py` checks the equivalence. Parameters: 16 * cin * cout (+ cout).
    """

    def __init__(self, cin: int, cout: int, stride: int, bias: bool):
        super().__init__()
        if stride == 2:
            self.op: nn.Module = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=bias)
        elif stride == 1:
            self.op = nn.Sequential(nn.ZeroPad2d((2, 1, 2, 1)), nn.Conv2d(cin, cout, 4, 1, 0, bias=bias))
        else:
            raise ValueError(f"stride must be 1 or 2, not {stride}")
        self.stride, self.cout = stride, cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def decoder(cin: int, batch_norm: bool, width: float = 1.0) -> nn.Sequential:
    """The 17-layer decoder: ReLU after the first 16, sigmoid after the last.

    batch_norm=True is PRN's implementation (tf.contrib arg_scope: every transposed convolution, the last
    included, is conv -> batch norm -> activation, without bias); False is the thesis's Keras decoder
    (`Conv2DTranspose(..., activation=relu)`: bias, no normalisation), which its 11,791,273 parameters count.
    """
    layers: list[nn.Module] = []
    for i, (cout, stride) in enumerate(DECODER):
        cout = cout if cout == 3 else width_of(cout, width)
        layers.append(TransposedConv(cin, cout, stride, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout, eps=BN_EPS))
        layers.append(nn.Sigmoid() if i == len(DECODER) - 1 else nn.ReLU(inplace=True))
        cin = cout
    return nn.Sequential(*layers)


def run_decoder(decoder: nn.Sequential, features: torch.Tensor) -> torch.Tensor:
    """The decoder on (B, C, 8, 8) features; its three-channel tail (`fp32_tail`) always in float32."""
    start = fp32_tail(decoder)
    x = decoder[:start](features)
    with torch.autocast(x.device.type, enabled=False):
        return decoder[start:](x.float())


def fp32_tail(decoder: nn.Sequential) -> int:
    """Index of the decoder's first three-channel layer. From there on the maps are 256 x 256 x 3: cheap, and
    the output's precision is set there (bf16 would quantise it to ~1 pixel)."""
    for i, layer in enumerate(decoder):
        if isinstance(layer, TransposedConv) and layer.cout == 3:
            return i
    return len(decoder)


WEIGHT_INITS = ("he", "keras")


def initialise(module: nn.Module, scheme: str = "he") -> None:
    """Initialise every convolution's weights (biases to zero).

    "keras": Glorot-uniform, Keras' and tf.contrib's default, what both originals used. Through the thesis's
    decoder (16 ReLU layers, no normalisation) it shrinks the signal ~10^4-fold, so at the start the output is
    the same for every input (spread 7e-6) and early training is slow.
    "he": He-normal, std sqrt(2 / fan_in), which keeps a ReLU stack's activations at scale (output spread 4e-2).
    The fan-in of a transposed convolution is cin * k^2 / stride^2: the taps that reach one output pixel.
    """
    if scheme not in WEIGHT_INITS:
        raise ValueError(f"weight init must be one of {WEIGHT_INITS}, not {scheme!r}")
    for m in module.modules():
        if not isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            continue
        if scheme == "keras":
            nn.init.xavier_uniform_(m.weight)
        else:
            k = m.kernel_size[0] * m.kernel_size[1]
            if isinstance(m, nn.ConvTranspose2d):
                fan_in = m.in_channels * k / (m.stride[0] * m.stride[1])
            else:
                fan_in = m.in_channels // m.groups * k
            nn.init.normal_(m.weight, 0.0, (2.0 / fan_in) ** 0.5)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


class TwoViewNet(nn.Module):
    """Thesis table 4.1: front and side images stacked to (B, 6, 256, 256) -> (B, 3, 256, 256) position map.

    Encoder: 3x3 stride-2 convolution to 128 x 128 x 32; MobileNetV2's 17 inverted residuals in 7 groups
    (`MOBILENET_V2_GROUPS`; the table's four rows are its four stride-2 points, 1-4 repeats each); a 1x1
    convolution to 8 x 8 x 512. Decoder: 17 transposed convolutions, ReLU, sigmoid last (`decoder`).

    The table's last encoder row ("Convolution, kernel 3, stride 2, 8x8x576 -> 8x8x512") cannot be taken
    literally: stride 2 would give 4 x 4. The thesis's code uses a 1x1 stride-1 convolution there, and only that
    reading gives the reported 11,791,273 parameters (Keras count, `keras_parameter_count`); a 3x3 kernel would
    add 2.36 M. `width` scales every layer's channels (MobileNetV2's alpha) for quick tests; 1.0 is the thesis.
    """

    def __init__(self, in_channels: int = 6, width: float = 1.0, weight_init: str = "he",
                 decoder_norm: str = "none"):
        super().__init__()
        self.in_channels, self.width = in_channels, width
        c = width_of(32, width)
        layers: list[nn.Module] = [ConvBlock(in_channels, c, 3, 2)]
        for t, cout, n, s in MOBILENET_V2_GROUPS:
            cout = width_of(cout, width)
            for i in range(n):
                layers.append(InvertedResidual(c, cout, s if i == 0 else 1, t, residual=i > 0))
                c = cout
        bottleneck = width_of(512, width)
        layers.append(ConvBlock(c, bottleneck, 1, 1))
        self.encoder = nn.Sequential(*layers)
        if decoder_norm not in DECODER_NORMS:
            raise ValueError(f"decoder_norm must be one of {DECODER_NORMS}, not {decoder_norm!r}")
        self.decoder = decoder(bottleneck, batch_norm=decoder_norm == "batch", width=width)
        initialise(self, weight_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_decoder(self.decoder, self.encoder(x))


class ResBlock(nn.Module):
    """PRN's residual block: 1x1 to half width, k x k (carrying the stride), 1x1 back (no norm, no activation);
    plus the shortcut (a bias-free 1x1 projection when the shape changes); then batch norm and ReLU."""

    def __init__(self, cin: int, cout: int, stride: int, kernel: int = 4):
        super().__init__()
        mid = cout // 2
        self.body = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid, eps=BN_EPS), nn.ReLU(inplace=True),
            same_padding(kernel, stride), nn.Conv2d(mid, mid, kernel, stride, 0, bias=False),
            nn.BatchNorm2d(mid, eps=BN_EPS), nn.ReLU(inplace=True),
            nn.Conv2d(mid, cout, 1, bias=False),
        )
        self.shortcut = (nn.Identity() if stride == 1 and cin == cout
                         else nn.Conv2d(cin, cout, 1, stride, bias=False))
        self.out = nn.Sequential(nn.BatchNorm2d(cout, eps=BN_EPS), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x) + self.shortcut(x))


class ResFCN256(nn.Module):
    """PRN's single-image network (YadiraF/PRNet `resfcn256`): 4x4 convolution to 256 x 256 x 16, ten residual
    blocks (kernel 4) to 8 x 8 x 512, the 17-layer decoder with batch norm everywhere, sigmoid last.

    Left out: PRN's L2 weight regulariser (2e-4), which the thesis's training did not use either.
    """

    def __init__(self, in_channels: int = 3, size: int = 16, weight_init: str = "he", decoder_norm: str = "batch"):
        super().__init__()
        self.in_channels = in_channels
        blocks: list[nn.Module] = []
        c = size
        for k in (2, 4, 8, 16, 32):
            blocks += [ResBlock(c, size * k, 2), ResBlock(size * k, size * k, 1)]
            c = size * k
        self.encoder = nn.Sequential(
            same_padding(4, 1), nn.Conv2d(in_channels, size, 4, 1, 0, bias=False), nn.BatchNorm2d(size, eps=BN_EPS),
            nn.ReLU(inplace=True), *blocks)
        if decoder_norm not in DECODER_NORMS:
            raise ValueError(f"decoder_norm must be one of {DECODER_NORMS}, not {decoder_norm!r}")
        self.decoder = decoder(c, batch_norm=decoder_norm == "batch", width=size / 16)
        initialise(self, weight_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_decoder(self.decoder, self.encoder(x))


def count_parameters(model: nn.Module) -> int:
    """PyTorch's count: every learnable tensor (batch norm's running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters())


def keras_parameter_count(model: nn.Module) -> int:
    """What Keras' `model.summary()` would print: the learnable parameters plus each batch norm's moving mean
    and variance (Keras lists those as non-trainable parameters)."""
    moving = sum(2 * m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    return count_parameters(model) + moving
