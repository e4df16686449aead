"""The networks: ours (thesis table 4.1), its front-only variant, and PRN's ResFCN256 baseline.

All take (B, C, 256, 256) images in [0, 1] and return (B, 3, 256, 256) in [0, 1]: the position map divided by
256 * 1.1, as PRN normalises it. TensorFlow's "same" padding for even kernels at stride 1 is asymmetric
(1 before, 2 after); PyTorch has no such padding mode, so those layers pad explicitly: the parameter count and
the receptive field are the same as the Keras/TF originals.
"""

from __future__ import annotations

import torch
from torch import nn


def _same4() -> nn.ZeroPad2d:
    """TF 'same' padding for a 4 x 4 kernel at stride 1."""
    return nn.ZeroPad2d((1, 2, 1, 2))


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expand (x6), 3x3 depthwise, 1x1 linear projection; residual when shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int = 6):
        super().__init__()
        hidden = cin * expansion
        self.residual = stride == 1 and cin == cout
        self.block = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


def _stage(cin: int, cout: int, repeats: int) -> nn.Sequential:
    """One table-4.1 row: the first block halves the resolution, the repeats keep it."""
    return nn.Sequential(*[InvertedResidual(cin if i == 0 else cout, cout, 2 if i == 0 else 1)
                           for i in range(repeats)])


# the 17 transposed convolutions of table 4.1 (= PRN's decoder): (in, out, stride)
DECODER = [(512, 512, 1), (512, 256, 2), (256, 256, 1), (256, 256, 1), (256, 128, 2), (128, 128, 1),
           (128, 128, 1), (128, 64, 2), (64, 64, 1), (64, 64, 1), (64, 32, 2), (32, 32, 1), (32, 16, 2),
           (16, 16, 1), (16, 3, 1), (3, 3, 1), (3, 3, 1)]


def _decoder() -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (cin, cout, stride) in enumerate(DECODER):
        last = i == len(DECODER) - 1
        if stride == 2:
            layers.append(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=last))
        else:  # a stride-1 transposed convolution is a convolution with a flipped kernel
            layers += [_same4(), nn.Conv2d(cin, cout, 4, 1, 0, bias=last)]
        layers.append(nn.Sigmoid() if last else nn.Sequential(nn.BatchNorm2d(cout), nn.ReLU(inplace=True)))
    return nn.Sequential(*layers)


class TwoViewNet(nn.Module):
    """Thesis table 4.1: conv 3x3/2 to 32, four inverted-residual stages to 8 x 8 x 576, conv 3x3 to 512,
    17 transposed convolutions back to 256 x 256 x 3 with a final sigmoid.

    The table lists the last encoder convolution with stride 2 yet 8 x 8 in and out; we keep 8 x 8 (stride 1),
    which is what its output size says. Stage repeats (1, 2, 2, 1) are our reading of "repeated 1-4 times", chosen as the count closest to the
    reported 11,791,273 parameters with the 3 x 3 convolution the table lists.
    """

    def __init__(self, in_channels: int = 6, repeats: tuple[int, int, int, int] = (1, 2, 2, 1)):
        super().__init__()
        self.in_channels = in_channels
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6(inplace=True),
            _stage(32, 96, repeats[0]),
            _stage(96, 144, repeats[1]),
            _stage(144, 192, repeats[2]),
            _stage(192, 576, repeats[3]),
            nn.Conv2d(576, 512, 3, 1, 1, bias=False), nn.BatchNorm2d(512), nn.ReLU(inplace=True),
        )
        self.decoder = _decoder()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class ResBlock(nn.Module):
    """PRN's residual block: 1x1 (half width), 4x4 (stride), 1x1, with a 1x1 projection shortcut when needed."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        mid = cout // 2
        pad: nn.Module = _same4() if stride == 1 else nn.ZeroPad2d(1)
        self.body = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            pad, nn.Conv2d(mid, mid, 4, stride, 0, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, cout, 1, bias=False),
        )
        self.shortcut = (nn.Identity() if stride == 1 and cin == cout
                         else nn.Conv2d(cin, cout, 1, stride, bias=False))
        self.out = nn.Sequential(nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x) + self.shortcut(x))


class ResFCN256(nn.Module):
    """PRN's single-image network: conv 4x4 to 16, ten residual blocks to 8 x 8 x 512, the same 17-layer decoder."""

    def __init__(self, in_channels: int = 3):
        super().__init__()
        self.in_channels = in_channels
        widths = [(16, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1), (64, 128, 2), (128, 128, 1),
                  (128, 256, 2), (256, 256, 1), (256, 512, 2), (512, 512, 1)]
        self.encoder = nn.Sequential(
            _same4(), nn.Conv2d(in_channels, 16, 4, 1, 0, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            *[ResBlock(cin, cout, s) for cin, cout, s in widths],
        )
        self.decoder = _decoder()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
