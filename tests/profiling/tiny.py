"""Tiny torch modules the profiler tests time (imported by name in the child process)."""

from __future__ import annotations

import torch


class TinyNet(torch.nn.Module):
    """Two small linear layers: a forward pass takes microseconds."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def make_tiny() -> torch.nn.Module:
    """A factory, as a user's ``module:callable`` may be."""
    return TinyNet()


def not_a_module() -> str:
    """A callable that gives something other than a module."""
    return "not a module"


class Broken(torch.nn.Module):
    """A module whose forward fails, as a model given the wrong input does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ValueError("this model cannot run")
