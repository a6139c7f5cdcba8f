"""Build the model a profile measures: a torchvision architecture or a user's module.

A reference is either a torchvision classification or detection architecture name
(``resnet18``, ``fasterrcnn_mobilenet_v3_large_320_fpn``), built randomly initialised since latency
does not depend on the weights' values, or ``module:callable`` naming a ``torch.nn.Module``
(or something that returns one when called without arguments). The published accuracy of a
torchvision architecture comes from its default weights enum, which holds it in code: nothing
is downloaded. One exception to weight-independence: a randomly initialised detector finds few
or no boxes, so the per-box work after its heads (score filtering, NMS) is smaller than a
trained one's.

Everything here that touches torch runs in the profiling child process, and imports torch
there, so the core package stays importable without it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from themis_env.errors import ConfigError, DependencyNotInstalled, did_you_mean

__all__ = [
    "CLASSIFICATION_SHAPE",
    "DETECTION_SHAPE",
    "BuiltModel",
    "ModelInfo",
    "build_model",
    "is_module_ref",
    "import_torchvision",
]

# One ImageNet crop (C, H, W), the input size torchvision's classification weights publish.
CLASSIFICATION_SHAPE = (3, 224, 224)
# One 640 x 480 video frame; torchvision's detectors resize it internally to their own size.
DETECTION_SHAPE = (3, 480, 640)

# The headline metric of each family, as torchvision's weights metadata names it, and the
# name the model YAML gives it.
_METRICS = {
    "classification": ("ImageNet-1K", "acc@1", "top-1"),
    "detection": ("COCO-val2017", "box_map", "mAP"),
}


@dataclass(frozen=True)
class ModelInfo:
    """What the profile records about the model, beside its latency.

    Attributes:
        ref: The reference given (``resnet18`` or ``module:callable``).
        family: ``classification``, ``detection`` (torchvision) or ``module``.
        input_shape: Shape of one request's input, without the batch dimension.
        parameters: Number of parameters.
        accuracy: Published accuracy of the default weights [%], None for a user's module.
        accuracy_metric: Its name (``top-1``, ``mAP``), empty for a user's module.
        accuracy_source: Where the accuracy comes from (the weights enum member).
        library: The library and version that defined the architecture.
    """

    ref: str
    family: str
    input_shape: tuple[int, ...]
    parameters: int
    accuracy: float | None = None
    accuracy_metric: str = ""
    accuracy_source: str = ""
    library: str = ""


@dataclass(frozen=True)
class BuiltModel:
    """A model ready to time.

    Attributes:
        module: The ``torch.nn.Module``, in eval mode.
        make_input: Builds the input of a batch of ``b`` requests.
        info: What the profile records about it.
    """

    module: Any
    make_input: Callable[[int], Any]
    info: ModelInfo


def is_module_ref(ref: str) -> bool:
    """Whether ``ref`` is a ``module:callable`` reference rather than a torchvision name."""
    module, sep, attr = ref.partition(":")
    return bool(sep and module and attr)


def import_torchvision() -> Any:
    """Import torchvision, turning a missing or broken install into a clear error."""
    try:
        import torchvision
    except ImportError as exc:
        raise DependencyNotInstalled(
            "profiling a torchvision architecture needs torchvision: "
            'pip install "themis-env[profile]" (torchvision 0.28 matches torch 2.13)'
        ) from exc
    except RuntimeError as exc:
        # A torchvision built for another torch fails while registering its operators.
        import torch

        raise DependencyNotInstalled(
            f"torchvision does not load beside torch {torch.__version__} ({exc}); install the "
            "torchvision build made for this torch (CPU torch 2.13 needs the CPU build of "
            "torchvision 0.28), or profile a module:callable model"
        ) from exc
    return torchvision


def build_model(ref: str, input_shape: tuple[int, ...] | None = None) -> BuiltModel:
    """Build the model ``ref`` names, in eval mode, and its batch input maker.

    Args:
        ref: A torchvision architecture name or ``module:callable``.
        input_shape: Shape of one request's input (C, H, W for images). Required for a
            ``module:callable`` model; a torchvision architecture defaults to its family's.

    Raises:
        ConfigError: For an unknown architecture, a reference that does not import or does
            not give a ``torch.nn.Module``, or a missing input shape.
        DependencyNotInstalled: When torch or torchvision is missing.
    """
    if is_module_ref(ref):
        module = _user_module(ref)
        if input_shape is None:
            raise ConfigError(
                f"model {ref!r}: a module:callable model needs its input shape "
                "(--input-shape, e.g. 3,224,224 or 128), without the batch dimension"
            )
        info = ModelInfo(ref, "module", input_shape, _parameters(module))
        return BuiltModel(module, _tensor_batches(input_shape), info)
    return _torchvision_model(ref, input_shape)


def _user_module(ref: str) -> Any:
    import torch

    module_name, _, attr = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"model {ref!r} cannot be imported: {exc}") from exc
    if not isinstance(obj, torch.nn.Module):
        if not callable(obj):
            raise ConfigError(f"model {ref!r} is a {type(obj).__name__}, not a callable")
        obj = obj()
    if not isinstance(obj, torch.nn.Module):
        raise ConfigError(
            f"model {ref!r} gave a {type(obj).__name__}; it must be a torch.nn.Module or a "
            "callable returning one when called without arguments"
        )
    return obj.eval()


def _torchvision_model(name: str, input_shape: tuple[int, ...] | None) -> BuiltModel:
    torchvision = import_torchvision()
    models = torchvision.models
    families = {
        "classification": models.list_models(module=models),
        "detection": models.list_models(module=models.detection),
    }
    family = next((f for f, names in families.items() if name in names), None)
    if family is None:
        known = sorted(n for names in families.values() for n in names)
        raise ConfigError(
            f"model {name!r} is not a torchvision classification or detection architecture."
            f"{did_you_mean(name, known)} Known: {', '.join(known)}; or give module:callable"
        )
    # weights_backbone=None too: a detector's default backbone weights would be downloaded.
    extra = {"weights_backbone": None} if family == "detection" else {}
    module = models.get_model(name, weights=None, **extra).eval()
    shape = input_shape or (CLASSIFICATION_SHAPE if family == "classification" else DETECTION_SHAPE)
    dataset, key, metric = _METRICS[family]
    weights = models.get_model_weights(name).DEFAULT
    accuracy = weights.meta.get("_metrics", {}).get(dataset, {}).get(key)
    info = ModelInfo(
        ref=name,
        family=family,
        input_shape=shape,
        parameters=_parameters(module),
        accuracy=None if accuracy is None else float(accuracy),
        accuracy_metric=metric if accuracy is not None else "",
        accuracy_source=f"torchvision {weights} {dataset} {key}" if accuracy is not None else "",
        library=f"torchvision {torchvision.__version__}",
    )
    # A detector takes a list of images and returns its boxes; a classifier takes a batch.
    make = _image_lists(shape) if family == "detection" else _tensor_batches(shape)
    return BuiltModel(module, make, info)


def _parameters(module: Any) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def _tensor_batches(shape: tuple[int, ...]) -> Callable[[int], Any]:
    import torch

    def make(batch: int) -> Any:
        return torch.randn(batch, *shape)

    return make


def _image_lists(shape: tuple[int, ...]) -> Callable[[int], Any]:
    import torch

    def make(batch: int) -> Any:
        # Images in [0, 1], as the detectors' own normalisation expects.
        return [torch.rand(*shape) for _ in range(batch)]

    return make
