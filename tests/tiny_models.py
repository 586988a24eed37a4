"""Tiny model settings shared by the tests: the smallest configurations that still exercise every module.

Lists rather than tuples, so that they can go into a YAML config as they are (``yaml.safe_dump``).
"""

# scOT: three levels on a 32x32 grid (patch 4 -> 8x8 tokens, window 4: shifted windows at level 0, one whole-grid
# window below), one block per level, ConvNeXt skips at the first two levels (operators.md section 8, embed 8)
TINY_SCOT = dict(
    embed_dim=8,
    depths=[1, 1, 1],
    num_heads=[1, 2, 4],
    skip_connections=[1, 1, 0],
    patch_size=4,
    window_size=4,
    mlp_ratio=2.0,
    image_size=32,
)
