"""bgsub: reproducible background-subtraction experiments with per-pixel Gaussian mixture models.

Every method turns test frames ``(T, H, W, C)`` into a foreground score map
``(T, H, W)``; thresholds, masks and CDnet 2014 metrics are computed from the
scores in one place. See README.md for the experiment and ``bgsub.methods``
for the registry of methods.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
