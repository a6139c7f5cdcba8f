"""Building the model to profile: a user's module, or a torchvision architecture.

torchvision does not load beside this project's CPU torch on every machine, so its path is
checked against a stand-in with torchvision's model-registry API; the real library is used
when it imports.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from themis_env.errors import ConfigError, DependencyNotInstalled  # noqa: E402
from themis_env.profiling.models import (  # noqa: E402
    CLASSIFICATION_SHAPE,
    DETECTION_SHAPE,
    build_model,
    is_module_ref,
)

from .tiny import TinyNet  # noqa: E402


def test_module_refs() -> None:
    assert is_module_ref("pkg.mod:Net")
    assert not is_module_ref("resnet18")
    assert not is_module_ref(":Net") and not is_module_ref("pkg:")


@pytest.mark.parametrize("ref", ["tests.profiling.tiny:TinyNet", "tests.profiling.tiny:make_tiny"])
def test_a_user_module_is_built_in_eval_mode(ref: str) -> None:
    built = build_model(ref, (8,))
    assert isinstance(built.module, TinyNet) and not built.module.training
    assert built.make_input(3).shape == (3, 8)
    assert built.module(built.make_input(3)).shape == (3, 4)
    assert built.info.family == "module" and built.info.parameters == 8 * 16 + 16 + 16 * 4 + 4
    assert built.info.accuracy is None


@pytest.mark.parametrize(
    ("ref", "shape", "match"),
    [
        ("tests.profiling.tiny:TinyNet", None, "needs its input shape"),
        ("tests.profiling.tiny:Nowhere", (8,), "cannot be imported"),
        ("tests.profiling.nowhere:Net", (8,), "cannot be imported"),
        ("tests.profiling.tiny:not_a_module", (8,), "gave a str"),
        ("tests.profiling.tiny:__doc__", (8,), "not a callable"),
    ],
)
def test_bad_user_modules_are_refused(ref: str, shape: tuple[int, ...] | None, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_model(ref, shape)


class _Weights:
    def __init__(self, name: str, metrics: dict[str, dict[str, float]]) -> None:
        self.name, self.meta = name, {"_metrics": metrics}

    def __str__(self) -> str:
        return self.name


class _Detector(torch.nn.Module):
    def forward(self, images: list[Any]) -> list[dict[str, Any]]:
        return [{"boxes": torch.zeros(0, 4)} for _ in images]


def _fake_torchvision(calls: list[tuple[str, dict[str, Any]]]) -> types.ModuleType:
    """torchvision's model registry API (list_models, get_model, get_model_weights)."""
    tv = types.ModuleType("torchvision")
    models = types.ModuleType("torchvision.models")
    models.detection = types.ModuleType("torchvision.models.detection")
    names = {models: ["resnet18", "vgg11"], models.detection: ["fasterrcnn_resnet50_fpn"]}
    weights = {
        "resnet18": _Weights("ResNet18_Weights.IMAGENET1K_V1", {"ImageNet-1K": {"acc@1": 69.758}}),
        "vgg11": _Weights("VGG11_Weights.IMAGENET1K_V1", {}),
        "fasterrcnn_resnet50_fpn": _Weights(
            "FasterRCNN_ResNet50_FPN_Weights.COCO_V1", {"COCO-val2017": {"box_map": 37.0}}
        ),
    }

    def get_model(name: str, **kwargs: Any) -> torch.nn.Module:
        calls.append((name, kwargs))
        return _Detector() if name == "fasterrcnn_resnet50_fpn" else TinyNet()

    models.list_models = lambda module: names[module]
    models.get_model = get_model
    models.get_model_weights = lambda name: types.SimpleNamespace(DEFAULT=weights[name])
    tv.models = models
    tv.__version__ = "0.28.0"
    return tv


@pytest.fixture
def fake_torchvision(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setitem(sys.modules, "torchvision", _fake_torchvision(calls))
    return calls


def test_a_classifier_is_random_with_its_published_accuracy(fake_torchvision: list) -> None:
    built = build_model("resnet18", (8,))
    assert fake_torchvision == [("resnet18", {"weights": None})]
    info = built.info
    assert (info.family, info.accuracy, info.accuracy_metric) == ("classification", 69.758, "top-1")
    assert info.accuracy_source == "torchvision ResNet18_Weights.IMAGENET1K_V1 ImageNet-1K acc@1"
    assert info.library == "torchvision 0.28.0"
    assert built.make_input(2).shape == (2, 8)
    assert build_model("resnet18").info.input_shape == CLASSIFICATION_SHAPE


def test_a_classifier_without_published_metrics_has_no_accuracy(fake_torchvision: list) -> None:
    info = build_model("vgg11", (8,)).info
    assert info.accuracy is None and info.accuracy_metric == ""


def test_a_detector_gets_a_list_of_images_and_no_backbone_download(
    fake_torchvision: list,
) -> None:
    built = build_model("fasterrcnn_resnet50_fpn")
    assert fake_torchvision == [
        ("fasterrcnn_resnet50_fpn", {"weights": None, "weights_backbone": None})
    ]
    assert (built.info.family, built.info.accuracy, built.info.accuracy_metric) == (
        "detection",
        37.0,
        "mAP",
    )
    images = built.make_input(3)
    assert isinstance(images, list) and len(images) == 3
    assert images[0].shape == DETECTION_SHAPE
    assert len(built.module(images)) == 3


def test_an_unknown_architecture_is_refused_with_suggestions(fake_torchvision: list) -> None:
    with pytest.raises(ConfigError, match="Did you mean 'resnet18'.*Known: fasterrcnn"):
        build_model("resnet81")


def test_missing_torchvision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(DependencyNotInstalled, match=r"themis-env\[profile\]"):
        build_model("resnet18")


def test_torchvision_built_for_another_torch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # What PyPI's torchvision 0.28.0 does beside the CPU build of torch 2.13.0.
    package = tmp_path / "torchvision"
    package.mkdir()
    (package / "__init__.py").write_text(
        'raise RuntimeError("operator torchvision::nms does not exist")\n'
    )
    monkeypatch.delitem(sys.modules, "torchvision", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DependencyNotInstalled, match="torchvision::nms does not exist"):
        build_model("resnet18")


def test_real_torchvision_resnet18() -> None:
    try:
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError) as exc:
        pytest.skip(f"torchvision does not load here: {exc}")
    built = build_model("resnet18")
    assert built.info.accuracy == pytest.approx(69.758)
    assert built.info.parameters == 11_689_512
    with torch.inference_mode():
        assert built.module(built.make_input(1)).shape == (1, 1000)
