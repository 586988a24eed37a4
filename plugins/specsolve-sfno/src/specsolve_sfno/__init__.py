"""specsolve-sfno: the spherical FNO (``spherical_fno``) and a shallow-water-on-the-sphere generator
(``shallow_water_sphere``), registered through entry points; torch-harmonics is imported on first use."""

__version__ = "0.1.0"
