"""Profile a real model on this machine and write a model YAML the simulator loads.

``run_profile`` times a torchvision architecture or a ``module:callable`` torch module over
batch sizes and core counts in a pinned child process; ``fit_latency`` fits the Themis form
l(b, c) = α·b/c + β·b + γ/c + ζ; ``write_profile`` writes the model YAML and the raw
measurements. Needs the ``profile`` extra (torch, torchvision); importing this package does
not import torch.
"""

from themis_env.profiling.fit import LatencyFit, fit_latency, nnls
from themis_env.profiling.measure import MachineInfo, Measurement, ProfilePlan
from themis_env.profiling.models import ModelInfo
from themis_env.profiling.output import ProfileFiles, write_profile
from themis_env.profiling.runner import ProfileResult, run_profile

__all__ = [
    "LatencyFit",
    "MachineInfo",
    "Measurement",
    "ModelInfo",
    "ProfileFiles",
    "ProfilePlan",
    "ProfileResult",
    "fit_latency",
    "nnls",
    "run_profile",
    "write_profile",
]
