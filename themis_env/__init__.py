"""themis-env: a Gymnasium benchmark for autoscaling ML inference serving."""

__version__ = "0.1.0"
