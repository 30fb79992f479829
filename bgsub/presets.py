"""Named presets: the one home of each tuned setting of a method.

A preset is a method entry of the config (``kind``, the class's settings, ``postprocess``,
``threshold``, ``sweep``). Class defaults stay the textbook / MOG2 values; what was chosen on
validation data lives here only, and config.yaml, the ablation and the command line name it
(``preset: default``) instead of repeating it. A config entry's own keys override its preset's.
"""

from __future__ import annotations

import copy
from typing import Any

from bgsub.errors import InputError
from bgsub.ranking import chi2_threshold

__all__ = ["PRESETS", "DESCRIPTIONS", "preset_settings", "apply_preset"]

#: Threshold of the default ``gmm``: the chi-square 0.95 quantile with 3 degrees of freedom, to two decimals.
DEFAULT_GMM_THRESHOLD = round(chi2_threshold(3, 0.95), 2)  # 7.81
#: Threshold of the textbook ``gmm``: the 0.999 quantile, to two decimals.
TEXTBOOK_GMM_THRESHOLD = round(chi2_threshold(3, 0.999), 2)  # 16.27

PRESETS: dict[str, dict[str, Any]] = {
    # chosen on the synthetic scenes' validation seeds and highway 470-899 only (README "Accuracy"); re-chosen on
    # the validation seeds of every scene kind (jitter, water, weather, intermittent, exposure added) by the rule
    # declared in benchmarks/validate_levers.py: align and feedback stay off; ghost absorption joined once its
    # detector waited for stable pixels (benchmarks/validate_levers.txt, +0.0069; frozen 2026-12-04, second freeze);
    # the masked shadow texture test joined by the same rule (benchmarks/levers_validation.txt, +0.0066; third freeze);
    # the motion-sized neighbourhood (+0.0052; fourth freeze); highlights and the shadow texture test against the
    # window's background mixtures, together, by the same rule on 3 validation seeds per kind (+0.0086; fifth freeze);
    # alignment of a shaking camera, EM on 4 components keeping 3, and clipped channels read under a raised gain,
    # together, by the same rule on 10 validation seeds per kind (+0.0082; sixth freeze, 2026-12-06); a ghost's pixels
    # counted after 5 still frames, not 10, by the rule's clause for one scene mended under its minimum gain, on the
    # 16th-25th validation seeds of each kind (departed +0.025, score +0.0009; seventh freeze, 2026-12-06); the
    # alignment's vote bounded by the blocks that come farther (align_max_farther 2), by the same clause on the same
    # seeds with the trees kind added (trees +0.029, score +0.0009; eighth freeze, 2026-12-06); a compact colour the
    # training frames came back to in 8 runs is background (recurrent_episodes 8), by the same clause on the 36th-45th
    # validation seeds of each kind (dynamic +0.040, score +0.0018; ninth freeze, 2026-12-06)
    "default": {
        "kind": "gmm",
        "n_components": 3,
        "fit_components": 4,  # EM fits one more, for the passers-by, and each pixel keeps its 3 heaviest
        "covariance_type": "full",
        "reg_covar": 4.0,
        "rank_by": "weight_over_sigma",
        "background_ratio": 0.7,
        "recurrent_episodes": 8,  # ... and a compact colour back in 8 separate runs of training frames (a flicker)
        "var_min": 16,  # written as config.yaml had them (ints), so a model's stored settings do not change
        "var_max": 75,
        "gain_compensation": True,
        "gain_clip": True,  # ... a channel clipped at 255 reads at least its background's value
        "align": True,  # frames aligned to the background when the training frames shook by 1.5 px or more ...
        "align_max_farther": 2,  # ... and a frame is moved only if at most 2 of 16 blocks come farther (a crown)
        "spatial_radius": 1,  # neighbours' models ...
        "spatial_gate": 0.2,  # ... only where 1 training frame in 5 needed them (swaying leaves) ...
        "max_spatial_radius": 3,  # ... from as far as the camera shook in the training frames, up to 3 px
        "shadow_tau": 0.5,  # MOG2's shadow test ...
        "shadow_texture": 1.0,  # ... and a shadow keeps the background's texture (dark cars do not) ...
        "shadow_texture_masked": True,  # ... over the shadow's own part of the window (its edges pass too) ...
        "shadow_texture_mixture": True,  # ... whichever of its background textures shows (swaying leaves) ...
        "shadow_max": 2.0,  # ... and brighter copies pass the same tests (highlights; 2.0 = 1 / shadow_tau)
        "learning_rate": 0.01,
        "ghost_frames": 10,  # revealed background (a ghost) is absorbed; stopped objects stay foreground
        "ghost_stable_frames": 5,  # ... its pixels count once their colour has been still for 5 frames
        # a 5x5 median and blobs under 30 px removed at 160x120, grown with a larger frame (9x9 and 120 px at 320x240)
        "postprocess": {"median": 5, "min_area": 30, "reference_size": 120},
        "threshold": DEFAULT_GMM_THRESHOLD,
        "sweep": [0, 40, 81],
    },
    "textbook": {
        "kind": "gmm",
        "n_components": 3,
        "covariance_type": "full",
        "threshold": TEXTBOOK_GMM_THRESHOLD,
        "sweep": [0, 100, 201],
    },
    "online": {"kind": "online_gmm", "threshold": 16, "sweep": [0, 64, 129]},
}

#: One line per preset, for ``bgsub presets`` and the README.
DESCRIPTIONS: dict[str, str] = {
    "default": "per-pixel GMM (K=3 kept of 4 fitted) with the validated levers: recurring colours as background, "
    "variance bounds, gain compensation "
    "(clip-aware), alignment of a shaking camera (not of a swaying crown), gated spatial context (its reach sized "
    "by the camera's shake), texture-preserving shadow and highlight test, slow selective update, ghost absorption, "
    "5x5 median and small-blob removal (at 160x120, grown with a larger frame)",
    "textbook": "per-pixel GMM (K=3, full covariance) fitted by EM, no levers; chi-square 0.999 threshold",
    "online": "adaptive per-pixel GMM (MOG2's algorithm and defaults), learns on every frame",
}


def preset_settings(name: str) -> dict[str, Any]:
    """Return a copy of preset ``name``'s settings.

    Examples
    --------
    >>> preset_settings("default")["threshold"]
    7.81
    """
    try:
        return copy.deepcopy(PRESETS[name])
    except KeyError:
        raise InputError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None


def apply_preset(settings: dict[str, Any]) -> dict[str, Any]:
    """Expand a config method entry's ``preset:`` key; the entry's own keys win.

    Examples
    --------
    >>> apply_preset({"preset": "textbook", "n_components": [1, 3]})["n_components"]
    [1, 3]
    >>> apply_preset({"threshold": 3})
    {'threshold': 3}
    """
    settings = dict(settings)
    name = settings.pop("preset", None)
    return settings if name is None else {**preset_settings(name), **settings}
