"""Calibration of the synthetic generators against the real traces (see CALIBRATION.md)."""
