"""A small convolutional classifier the sim-to-real check serves (needs torch, no torchvision).

Imported by reference (``themis_env.realserve.models:SmallCNN``) in the profiling and replica
processes only; ``import themis_env.realserve`` does not import it, so the package stays
importable without torch. Sized so one 3×64×64 request takes milliseconds on one core: long
enough that the serving overhead (pipes, a Python dispatcher) is a small part of a request.
"""

from __future__ import annotations

import torch

__all__ = ["INPUT_SHAPE", "SmallCNN"]

INPUT_SHAPE = (3, 64, 64)  # one request's input (C, H, W)


class SmallCNN(torch.nn.Module):
    """Three conv blocks and a linear head, 10 classes (randomly initialised)."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, w, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(w, 2 * w, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(2 * w, 4 * w, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1),
        )
        self.head = torch.nn.Linear(4 * w, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores of a batch of images."""
        return self.head(torch.flatten(self.features(x), 1))
