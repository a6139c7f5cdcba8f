"""Pure-torch YOLOv5 (v6/v7 layout) and ResNet architectures to profile as ``module:callable``.

torchvision has no YOLOv5, and the profiler only needs a module of the right shape: latency
does not depend on the weights' values, so these randomly initialised networks time as the
trained ones do (up to post-processing, below). Written from the published descriptions:

* **YOLOv5** (Jocher et al., ``ultralytics/yolov5`` v6.0 release notes and model yamls): a
  CSP backbone of Conv-BN-SiLU blocks and C3 stages with an SPPF block, a PAN neck, and a
  Detect head of one 1×1 convolution per output level (strides 8, 16, 32; 3 anchors ×
  (80 classes + 5)). The n/s/m/l/x sizes scale one layout by a depth multiple (repeats of
  each C3) and a width multiple (channels, rounded up to a multiple of 8). Published
  parameter counts at 80 classes: 1.9 / 7.2 / 21.2 / 46.5 / 86.7 M; ``tests/profiling``
  checks ours against them. The Detect head's inference decoding (sigmoid, grid offsets,
  anchor scaling) is included; non-maximum suppression is not (it needs torchvision's
  operator, and a randomly initialised detector keeps few boxes for it anyway).
* **ResNet** (He et al., arXiv 1512.03385, in torchvision's v1.5 form with the stride on the
  3×3 convolution of a bottleneck): 18/34 of basic blocks, 50/101/152 of bottlenecks.

Import this module only where torch is installed (the ``profile`` extra): nothing in
``themis_env`` imports it, the profiler loads it by reference, e.g.
``themis-env profile themis_env.profiling.architectures:yolov5s --input-shape 3,480,640``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "RESNET_LAYOUTS",
    "YOLOV5_SCALES",
    "ResNet",
    "YoloV5",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "yolov5l",
    "yolov5m",
    "yolov5n",
    "yolov5s",
    "yolov5x",
]

#: Size -> (depth multiple, width multiple) of the YOLOv5 n/s/m/l/x models.
YOLOV5_SCALES: dict[str, tuple[float, float]] = {
    "n": (0.33, 0.25),
    "s": (0.33, 0.50),
    "m": (0.67, 0.75),
    "l": (1.0, 1.0),
    "x": (1.33, 1.25),
}

# Anchor boxes (width, height in input pixels) of the three output levels, strides 8, 16, 32:
# the COCO k-means anchors every YOLOv5 size shares.
_ANCHORS = (
    ((10, 13), (16, 30), (33, 23)),
    ((30, 61), (62, 45), (59, 119)),
    ((116, 90), (156, 198), (373, 326)),
)
_STRIDES = (8, 16, 32)


def _channels(c: int, width: float) -> int:
    # Channels scale with the width multiple, rounded up to a multiple of 8.
    return int(math.ceil(c * width / 8) * 8)


def _repeats(n: int, depth: float) -> int:
    return max(round(n * depth), 1) if n > 1 else n


class ConvBnAct(nn.Sequential):
    """Convolution without bias, batch norm, SiLU: YOLOv5's basic block ("Conv")."""

    def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1, p: int | None = None) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, k, s, k // 2 if p is None else p, bias=False),
            nn.BatchNorm2d(c_out),
            nn.SiLU(inplace=True),
        )


class Bottleneck(nn.Module):
    """1×1 then 3×3 ConvBnAct, with a residual add when asked and shapes allow."""

    def __init__(self, c_in: int, c_out: int, shortcut: bool = True) -> None:
        super().__init__()
        self.reduce = ConvBnAct(c_in, c_out, 1)
        self.conv = ConvBnAct(c_out, c_out, 3)
        self.add = shortcut and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        y = self.conv(self.reduce(x))
        return x + y if self.add else y


class C3(nn.Module):
    """CSP stage: half the channels through n bottlenecks, half around them, then merged."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        hidden = c_out // 2
        self.main = ConvBnAct(c_in, hidden, 1)
        self.skip = ConvBnAct(c_in, hidden, 1)
        self.merge = ConvBnAct(2 * hidden, c_out, 1)
        self.blocks = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.merge(torch.cat((self.blocks(self.main(x)), self.skip(x)), dim=1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast form: three chained 5×5 max-pools concatenated."""

    def __init__(self, c_in: int, c_out: int, k: int = 5) -> None:
        super().__init__()
        hidden = c_in // 2
        self.reduce = ConvBnAct(c_in, hidden, 1)
        self.merge = ConvBnAct(4 * hidden, c_out, 1)
        self.pool = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = self.reduce(x)
        y1 = self.pool(x)
        y2 = self.pool(y1)
        return self.merge(torch.cat((x, y1, y2, self.pool(y2)), dim=1))


class Detect(nn.Module):
    """One 1×1 convolution per level to anchors × (classes + 5), decoded to boxes in eval."""

    def __init__(self, channels: tuple[int, ...], classes: int = 80) -> None:
        super().__init__()
        self.outputs = classes + 5
        self.anchors = len(_ANCHORS[0])
        self.heads = nn.ModuleList(nn.Conv2d(c, self.anchors * self.outputs, 1) for c in channels)
        self.register_buffer("anchor_wh", torch.tensor(_ANCHORS, dtype=torch.float32))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:  # noqa: D102
        boxes = []
        for i, (head, x) in enumerate(zip(self.heads, features, strict=True)):
            b, _, h, w = x.shape
            p = head(x).view(b, self.anchors, self.outputs, h, w).permute(0, 1, 3, 4, 2)
            p = p.sigmoid()
            gy, gx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            grid = torch.stack((gx, gy), dim=-1).view(1, 1, h, w, 2).to(p.dtype)
            xy = (p[..., :2] * 2 - 0.5 + grid) * _STRIDES[i]
            wh = (p[..., 2:4] * 2) ** 2 * self.anchor_wh[i].view(1, self.anchors, 1, 1, 2)
            boxes.append(torch.cat((xy, wh, p[..., 4:]), dim=-1).view(b, -1, self.outputs))
        return torch.cat(boxes, dim=1)


class YoloV5(nn.Module):
    """YOLOv5 (v6/v7 layout) at a depth and width multiple; input (B, 3, H, W), H, W % 32 == 0.

    Args:
        depth: Depth multiple (repeats of each C3 stage).
        width: Width multiple (channels).
        classes: Number of classes (COCO: 80).
    """

    def __init__(self, depth: float, width: float, classes: int = 80) -> None:
        super().__init__()
        c64, c128, c256, c512, c1024 = (_channels(c, width) for c in (64, 128, 256, 512, 1024))

        def n(k: int) -> int:
            return _repeats(k, depth)

        # Backbone: P1/2 .. P5/32.
        self.stem = ConvBnAct(3, c64, 6, 2, 2)
        self.p2 = nn.Sequential(ConvBnAct(c64, c128, 3, 2), C3(c128, c128, n(3)))
        self.p3 = nn.Sequential(ConvBnAct(c128, c256, 3, 2), C3(c256, c256, n(6)))
        self.p4 = nn.Sequential(ConvBnAct(c256, c512, 3, 2), C3(c512, c512, n(9)))
        self.p5 = nn.Sequential(
            ConvBnAct(c512, c1024, 3, 2), C3(c1024, c1024, n(3)), SPPF(c1024, c1024)
        )
        # PAN neck: top-down with upsampling, then bottom-up with strided convolutions.
        self.lateral5 = ConvBnAct(c1024, c512, 1)
        self.up4 = C3(2 * c512, c512, n(3), shortcut=False)
        self.lateral4 = ConvBnAct(c512, c256, 1)
        self.out3 = C3(2 * c256, c256, n(3), shortcut=False)
        self.down3 = ConvBnAct(c256, c256, 3, 2)
        self.out4 = C3(2 * c256, c512, n(3), shortcut=False)
        self.down4 = ConvBnAct(c512, c512, 3, 2)
        self.out5 = C3(2 * c512, c1024, n(3), shortcut=False)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.detect = Detect((c256, c512, c1024), classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        f3 = self.p3(self.p2(self.stem(x)))
        f4 = self.p4(f3)
        l5 = self.lateral5(self.p5(f4))
        l4 = self.lateral4(self.up4(torch.cat((self.upsample(l5), f4), dim=1)))
        o3 = self.out3(torch.cat((self.upsample(l4), f3), dim=1))
        o4 = self.out4(torch.cat((self.down3(o3), l4), dim=1))
        o5 = self.out5(torch.cat((self.down4(o4), l5), dim=1))
        return self.detect([o3, o4, o5])


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with a residual (ResNet 18/34)."""

    expansion = 1

    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        c_out = width * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(c_in, width, 3, stride, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = _projection(c_in, c_out, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.relu(self.body(x) + self.shortcut(x))


class BottleneckBlock(nn.Module):
    """1×1 reduce, 3×3 (strided), 1×1 expand ×4, with a residual (ResNet 50/101/152)."""

    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        c_out = width * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(c_in, width, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = _projection(c_in, c_out, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.relu(self.body(x) + self.shortcut(x))


def _projection(c_in: int, c_out: int, stride: int) -> nn.Module:
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))


#: Depth -> (block kind, blocks per stage) of the ImageNet ResNets.
RESNET_LAYOUTS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (BottleneckBlock, (3, 4, 6, 3)),
    101: (BottleneckBlock, (3, 4, 23, 3)),
    152: (BottleneckBlock, (3, 8, 36, 3)),
}


class ResNet(nn.Module):
    """An ImageNet ResNet of the given depth; input (B, 3, 224, 224), output 1,000 logits.

    Args:
        depth: 18, 34, 50, 101 or 152.
        classes: Number of classes (ImageNet: 1,000).
    """

    def __init__(self, depth: int, classes: int = 1000) -> None:
        super().__init__()
        if depth not in RESNET_LAYOUTS:
            raise ValueError(f"ResNet depth {depth!r} is not one of {sorted(RESNET_LAYOUTS)}")
        block, counts = RESNET_LAYOUTS[depth]
        layers: list[nn.Module] = [
            nn.Conv2d(3, 64, 7, 2, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        ]
        c_in = 64
        for stage, count in enumerate(counts):
            width = 64 * 2**stage
            for i in range(count):
                layers.append(block(c_in, width, 2 if (i == 0 and stage > 0) else 1))
                c_in = width * block.expansion  # type: ignore[attr-defined]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def _yolo(size: str) -> YoloV5:
    return YoloV5(*YOLOV5_SCALES[size])


def yolov5n() -> YoloV5:
    """YOLOv5n: depth 0.33, width 0.25."""
    return _yolo("n")


def yolov5s() -> YoloV5:
    """YOLOv5s: depth 0.33, width 0.50."""
    return _yolo("s")


def yolov5m() -> YoloV5:
    """YOLOv5m: depth 0.67, width 0.75."""
    return _yolo("m")


def yolov5l() -> YoloV5:
    """YOLOv5l: depth 1.0, width 1.0."""
    return _yolo("l")


def yolov5x() -> YoloV5:
    """YOLOv5x: depth 1.33, width 1.25."""
    return _yolo("x")


def resnet18() -> ResNet:
    """ResNet-18 (basic blocks 2, 2, 2, 2)."""
    return ResNet(18)


def resnet34() -> ResNet:
    """ResNet-34 (basic blocks 3, 4, 6, 3)."""
    return ResNet(34)


def resnet50() -> ResNet:
    """ResNet-50 (bottlenecks 3, 4, 6, 3)."""
    return ResNet(50)


def resnet101() -> ResNet:
    """ResNet-101 (bottlenecks 3, 4, 23, 3)."""
    return ResNet(101)


def resnet152() -> ResNet:
    """ResNet-152 (bottlenecks 3, 8, 36, 3)."""
    return ResNet(152)
