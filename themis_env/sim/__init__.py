"""The serving-cluster simulator: NumPy plus a compiled event loop; never imports Gymnasium."""
