"""A plain convolutional encoder sized for a CPU: convolution, batch norm, ReLU, halving the resolution per stage.

Measured here (issue 11): on a 2-core CPU the thesis's MobileNetV2 encoder spends its time in high-resolution
depthwise layers; dense 3 x 3 convolutions at a lower input resolution learn pose and shape faster per second.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class AddCoordinates(nn.Module):
    """(B, C, H, W) -> (B, C + 2, H, W): x and y of each pixel in [-1, 1] as two more channels (CoordConv), so
    that convolutions can measure where things are, not only what they are."""

    def forward(self, x):
        b, _, h, w = x.shape
        ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1).expand(b, 1, h, w)
        xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype).view(1, 1, 1, w).expand(b, 1, h, w)
        return torch.cat([x, xs, ys], dim=1)


class ConvEncoder(nn.Sequential):
    """(B, C, R, R) images -> (B, widths[-1], R / 2^len(widths), R / 2^len(widths)) features.

    A 5 x 5 stride-2 stem to widths[0], then per further width a stride-2 3 x 3 convolution and `blocks` more at
    stride 1. He initialisation (PyTorch's default for ReLU stacks with batch norm is fine; kept explicit).
    """

    def __init__(self, in_channels: int, widths: tuple[int, ...] = (32, 48, 64, 128, 192), blocks: int = 1,
                 coordinates: bool = False):
        layers: list[nn.Module] = [AddCoordinates()] if coordinates else []
        layers.append(conv_bn_relu(in_channels + 2 * coordinates, widths[0], 5, 2))
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers.append(conv_bn_relu(cin, cout, 3, 2))
            layers += [conv_bn_relu(cout, cout, 3, 1) for _ in range(blocks)]
        super().__init__(*layers)
        self.out_channels, self.stages = widths[-1], len(widths)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
