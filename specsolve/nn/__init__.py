"""Public building blocks of the neural operators, for built-in models and plugin authors alike.

- :mod:`specsolve.nn.spectral_conv`: FNO spectral convolution (kept-mode sets, truncated real FFTs, DFT matrices).
- :mod:`specsolve.nn.group_conv`: p4 / p4m group convolutions and group-equivariant spectral weights (G-FNO).
- :mod:`specsolve.nn.galerkin`: Galerkin / Fourier attention, spectral regressor, up/down samplers.
- :mod:`specsolve.nn.swin`: SwinV2 blocks, (conditional) layer norms, patch merging (scOT).
- :mod:`specsolve.nn.spacetime`: space-time spectral convolution and Helmholtz projection (ST-FNO).
- :mod:`specsolve.nn.state_dict`: matching a (partial) state dict by name and shape.
- :mod:`specsolve.nn.norms`: norms shared by losses and metrics.
"""

from specsolve.nn.norms import relative_lp_per_sample
from specsolve.nn.spectral_conv import SpectralConv, kept_frequencies, truncated_irfftn, truncated_rfftn
from specsolve.nn.state_dict import match_state_dict

__all__ = [
    "SpectralConv",
    "kept_frequencies",
    "match_state_dict",
    "relative_lp_per_sample",
    "truncated_irfftn",
    "truncated_rfftn",
]
