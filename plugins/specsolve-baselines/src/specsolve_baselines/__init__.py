"""specsolve-baselines: an example third-party specsolve plugin.

Components (declared as entry points in ``pyproject.toml``; nothing registers at import time):

- model ``unet2d``: :class:`specsolve_baselines.unet2d.UNet2d`, a classic 2-D U-Net;
- model ``deeponet``: :class:`specsolve_baselines.deeponet.DeepONet`, an unstacked DeepONet on grids;
- loss ``rel_l1``: :class:`specsolve_baselines.rel_l1.RelativeL1Loss`, relative L1 error.
"""

__version__ = "0.1.0"
