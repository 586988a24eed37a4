"""Optimizers and schedulers, registered as kinds ``optimizer`` and ``scheduler``."""
