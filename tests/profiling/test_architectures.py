"""The pure-torch YOLOv5 and ResNet definitions have the published sizes and run."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from themis_env.profiling import architectures  # noqa: E402
from themis_env.profiling.models import build_model  # noqa: E402

# Published parameter counts [M]: YOLOv5 v6.0 release table (80 COCO classes) and torchvision's
# ImageNet weights metadata (num_params) for the ResNets.
PUBLISHED_M = {
    "yolov5n": 1.9,
    "yolov5s": 7.2,
    "yolov5m": 21.2,
    "yolov5l": 46.5,
    "yolov5x": 86.7,
    "resnet18": 11.689512,
    "resnet34": 21.797672,
    "resnet50": 25.557032,
    "resnet101": 44.549160,
    "resnet152": 60.192808,
}


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _count_on_meta(name: str) -> int:
    # Shapes only: the meta device allocates and initialises nothing, so the big ones are quick.
    with torch.device("meta"):
        return _count(getattr(architectures, name)())


@pytest.mark.parametrize("name", sorted(PUBLISHED_M))
def test_parameter_count_matches_the_published_one(name: str) -> None:
    # Published YOLOv5 figures are rounded to 0.1 M; within 3 % leaves room only for that.
    assert _count_on_meta(name) / 1e6 == pytest.approx(PUBLISHED_M[name], rel=0.03)


def test_yolo_sizes_grow_and_output_one_row_per_anchor_cell() -> None:
    counts = [_count_on_meta(f"yolov5{s}") for s in "nsmlx"]
    assert counts == sorted(counts)
    model = architectures.yolov5n().eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 96))
    # 3 anchors per cell at strides 8, 16, 32; 80 classes + box (4) + objectness (1).
    cells = sum((64 // s) * (96 // s) for s in (8, 16, 32))
    assert out.shape == (2, 3 * cells, 85)
    assert torch.all((out[..., 4:] >= 0) & (out[..., 4:] <= 1))


def test_resnet_gives_imagenet_logits_and_refuses_unknown_depth() -> None:
    model = architectures.resnet18().eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 64)).shape == (1, 1000)
    with pytest.raises(ValueError, match="ResNet depth 20 is not one of"):
        architectures.ResNet(20)


def test_the_profiler_builds_them_by_reference() -> None:
    built = build_model("themis_env.profiling.architectures:yolov5n", (3, 64, 64))
    assert built.info.family == "module"
    assert built.info.parameters == _count(architectures.yolov5n())
