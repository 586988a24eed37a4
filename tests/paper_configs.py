"""Paper-size model settings shared by the CPU tests and the GPU suite (tests/gpu)."""

# Galerkin Transformer, 2-D Darcy (Cao 2021): the sizes; the CPU tests add the paper's regularisation settings
GALERKIN_2D_DARCY = dict(dim=2, n_hidden=128, num_heads=4, num_layers=6, dim_feedforward=256, freq_dim=32, modes=12)
