"""Galerkin / Fourier Transformer operator learner (Cao, "Choose a Transformer: Fourier or Galerkin", NeurIPS 2021).

1D (Burgers, the paper's ``SimpleTransformer``):
    ``(B, in, n)`` -> ``Linear(in, d)`` per node -> ``num_layers`` encoder layers with the node coordinates
    ``x_j = linspace(0, 1, n)`` concatenated to every head -> spectral regressor (``num_spectral_layers``
    spectral convs ``d -> freq_dim -> freq_dim``, ``Linear(freq_dim, hidden) -> SiLU -> Linear(hidden, out)``,
    ``hidden = freq_dim`` by default) -> ``(B, out, n)``.

2D (Darcy, the paper's ``FourierTransformer2D``):
    ``(B, in, H, W)`` -> CNN downsampler to the ``coarse_size^2`` grid -> encoder layers on its
    ``coarse_size^2`` tokens with 2D coordinates -> upsampler to ``H x W`` -> spectral regressor
    (``Linear(d + 2, freq_dim)`` on ``[x, grid]``, 2D spectral convs, ``Linear(freq_dim, hidden) -> SiLU ->
    Linear(hidden, out)``, ``hidden = 4 freq_dim`` by default) -> ``(B, out, H, W)``; ``zero_boundary`` zeroes
    the outermost ring (homogeneous Dirichlet data, as in the paper's Darcy runs).

Attention (see :class:`~specsolve.nn.galerkin.SimpleAttention`): Galerkin ``Q (LN(K)^T LN(V)) / n``,
linear in ``n``; Fourier ``(LN(Q) LN(K)^T) V / n``, quadratic. Paper configs: 1D ``n_hidden=96, num_heads=1,
num_layers=4, dim_feedforward=192, freq_dim=48, modes=16`` (530,305 parameters); 2D ``dim=2, n_hidden=128,
num_heads=4, num_layers=6, dim_feedforward=256, freq_dim=32, modes=12, norm_eps=1e-7, dropout=0.05,
downsampler_dropout=0.05, coarse_size=43, zero_boundary=True`` (2,220,829 parameters).

Deviations from the reference code, on purpose (the first two have compatibility switches, see the class):
dropout acts in training mode only (the reference applies ``F.dropout(p=0.5)`` to the attention matrix even in
eval); the Fourier scores are not divided by ``sqrt(d_k)`` (the paper's formula; the reference code divides); the 2D intermediate grid of the scalers is the geometric mean
of the fine and coarse sizes (the reference derives it from a rounded scale factor: 141 -> 78 -> 43 down,
43 -> 77 -> 141 up).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from specsolve.errors import ConfigError, DataError
from specsolve.nn.galerkin import (
    Downsampler2d,
    EncoderLayer,
    SpectralRegressor,
    Upsampler2d,
    uniform_grid,
)
from specsolve.registry import register


@register("model", "galerkin_transformer")
class GalerkinTransformer(nn.Module):
    """Galerkin (or Fourier) Transformer ``(B, in_channels, *S) -> (B, out_channels, *S)``, ``len(S) = dim``.

    ``attention``: "galerkin" (linear, LN on K and V) or "fourier" (quadratic, LN on Q and K).
    ``xavier_gain``: gain of the Q/K/V init, None -> 1e-2 (galerkin) or 1e-3 (fourier); ``diagonal_weight``
    is added on the diagonal. ``dim_feedforward`` None -> ``2 n_hidden``; ``regressor_hidden`` None ->
    ``freq_dim`` (1D) or ``4 freq_dim`` (2D). Dropouts (training mode only): ``dropout`` on the attention
    matrix and both residual branches, ``ffn_dropout`` (None -> ``dropout``) inside the FFN,
    ``decoder_dropout`` before each FFT, ``downsampler_dropout`` / ``upsampler_dropout`` in the 2D CNN scalers.
    2D only: ``coarse_size`` (attention grid), ``downsampler_activation``, ``zero_boundary`` (homogeneous
    Dirichlet data): ``True`` zeroes the outermost ring of the model's own output, which under the training
    module's target normalisation (``pred = y_std * model(x) + y_mean``) is the *normalised* prediction;
    ``"physical"`` zeroes the ring of the de-normalised prediction instead, as the reference code does (its
    normaliser's ``inverse_transform`` runs inside the model, before the Dirichlet padding): the bare
    ``forward`` then leaves the ring alone and :meth:`constrain_output`, which the training module applies after
    de-normalising, zeroes it.

    Reference-code compatibility switches (galerkin-transformer 0.2.1, the code behind the published numbers;
    off by default, see :class:`~specsolve.nn.galerkin.SimpleAttention`): ``reference_attention_dropout`` applies
    the reference's ``F.dropout(p=0.5)`` to every attention matrix in training and in evaluation (so evaluation is
    random, as in the reference); ``reference_fourier_scaling`` divides the Fourier attention scores by
    ``sqrt(d_k + dim)`` like the reference code (no effect with ``attention="galerkin"``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        dim: Literal[1, 2] = 1,
        attention: Literal["galerkin", "fourier"] = "galerkin",
        n_hidden: int = 96,
        num_heads: int = 1,
        num_layers: int = 4,
        dim_feedforward: int | None = None,
        freq_dim: int = 48,
        modes: int = 16,
        num_spectral_layers: int = 2,
        regressor_hidden: int | None = None,
        xavier_gain: float | None = None,
        diagonal_weight: float = 1e-2,
        norm_eps: float = 1e-5,
        dropout: float = 0.0,
        ffn_dropout: float | None = None,
        decoder_dropout: float = 0.0,
        coarse_size: int = 43,
        downsampler_activation: Literal["relu", "silu"] = "relu",
        downsampler_dropout: float = 0.0,
        upsampler_dropout: float = 0.0,
        zero_boundary: bool | Literal["physical"] = False,
        reference_attention_dropout: bool = False,
        reference_fourier_scaling: bool = False,
    ) -> None:
        super().__init__()
        name = "galerkin_transformer"
        if dim not in (1, 2):
            raise ConfigError(f"{name}: dim must be 1 or 2, got {dim}")
        if attention not in ("galerkin", "fourier"):
            raise ConfigError(f"{name}: attention must be 'galerkin' or 'fourier', got {attention!r}")
        if min(in_channels, out_channels, n_hidden, num_heads, num_layers, freq_dim, modes, num_spectral_layers) < 1:
            raise ConfigError(f"{name}: channel counts, widths, heads, layers and modes must be positive")
        if n_hidden % num_heads != 0:
            raise ConfigError(f"{name}: n_hidden {n_hidden} must be divisible by num_heads {num_heads}")
        if dim == 2 and n_hidden < 3:
            raise ConfigError(f"{name}: the 2D downsampler splits n_hidden into 3 conv branches, needs n_hidden >= 3")
        if dim == 2 and coarse_size < 2:
            raise ConfigError(f"{name}: coarse_size must be at least 2, got {coarse_size}")
        drops = [dropout, decoder_dropout, downsampler_dropout, upsampler_dropout]
        if ffn_dropout is not None:
            drops.append(ffn_dropout)
        if any(not 0.0 <= p < 1.0 for p in drops):
            raise ConfigError(f"{name}: dropout probabilities must lie in [0, 1)")
        if norm_eps <= 0 or diagonal_weight < 0 or (xavier_gain is not None and xavier_gain <= 0):
            raise ConfigError(f"{name}: norm_eps and xavier_gain must be positive, diagonal_weight non-negative")
        if zero_boundary not in (False, True, "physical"):
            raise ConfigError(f"{name}: zero_boundary must be true, false or 'physical', got {zero_boundary!r}")
        if zero_boundary and dim == 1:
            raise ConfigError(f"{name}: zero_boundary is only implemented for dim=2")

        self.dim = dim
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.n_hidden = n_hidden
        self.coarse_size = coarse_size
        self.zero_boundary = zero_boundary
        gain = xavier_gain if xavier_gain is not None else (1e-2 if attention == "galerkin" else 1e-3)
        ff = dim_feedforward if dim_feedforward is not None else 2 * n_hidden
        hidden = regressor_hidden if regressor_hidden is not None else (freq_dim if dim == 1 else 4 * freq_dim)
        if ff < 1 or hidden < 1:
            raise ConfigError(f"{name}: dim_feedforward and regressor_hidden must be positive")

        if dim == 1:
            self.feature = nn.Linear(in_channels, n_hidden)
            self.downsampler = None
            self.upsampler = None
        else:
            self.feature = None
            self.downsampler = Downsampler2d(in_channels, n_hidden, downsampler_activation, downsampler_dropout)
            self.upsampler = Upsampler2d(n_hidden, upsampler_dropout)
        self.encoder_layers = nn.ModuleList(
            EncoderLayer(
                n_hidden,
                num_heads,
                pos_dim=dim,
                dim_feedforward=ff,
                attention=attention,
                xavier_gain=gain,
                diagonal_weight=diagonal_weight,
                norm_eps=norm_eps,
                dropout=dropout,
                ffn_dropout=dropout if ffn_dropout is None else ffn_dropout,
                reference_attention_dropout=reference_attention_dropout,
                reference_fourier_scaling=reference_fourier_scaling,
            )
            for _ in range(num_layers)
        )
        self.regressor = SpectralRegressor(
            n_hidden,
            freq_dim,
            out_channels,
            modes,
            num_spectral_layers,
            hidden,
            ndim=dim,
            grid_fc=dim == 2,
            dropout=decoder_dropout,
        )

    def encode(self, tokens: Tensor, pos: Tensor) -> Tensor:
        """Run the encoder layers on ``(B, n, d)`` tokens with coordinates ``pos`` ``(1 or B, n, dim)``."""
        for layer in self.encoder_layers:
            tokens = layer(tokens, pos)
        return tokens

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != self.dim + 2 or x.shape[1] != self.in_channels:
            raise DataError(
                f"galerkin_transformer (dim={self.dim}) expects (batch, {self.in_channels}, "
                f"{self.dim} spatial axes), got shape {tuple(x.shape)}"
            )
        spatial = tuple(x.shape[2:])
        if self.dim == 1:
            tokens = self.feature(x.movedim(1, -1))  # (B, n, d)
            pos = uniform_grid(spatial, tokens)  # (n, 1)
            tokens = self.encode(tokens, pos.unsqueeze(0))
            out = self.regressor(tokens)  # (B, n, out)
        else:
            coarse = (self.coarse_size, self.coarse_size)
            z = self.downsampler(x, coarse)  # (B, d, c, c)
            batch = z.shape[0]
            tokens = z.flatten(2).transpose(1, 2)  # (B, c*c, d), row-major like the coordinates below
            pos = uniform_grid(coarse, tokens).reshape(1, -1, 2)
            tokens = self.encode(tokens, pos)
            z = tokens.transpose(1, 2).reshape(batch, self.n_hidden, *coarse)
            z = self.upsampler(z, spatial)  # (B, d, H, W)
            out = self.regressor(z.movedim(1, -1))  # (B, H, W, out)
            if self.zero_boundary is True:
                out = torch.nn.functional.pad(out[:, 1:-1, 1:-1], (0, 0, 1, 1, 1, 1))
        return out.movedim(-1, 1)

    def constrain_output(self, y: Tensor) -> Tensor:
        """Applied by the training module to the de-normalised prediction ``(B, out, H, W)``: with
        ``zero_boundary="physical"`` the outermost ring is set to zero; otherwise ``y`` unchanged."""
        if self.zero_boundary != "physical":
            return y
        return torch.nn.functional.pad(y[..., 1:-1, 1:-1], (1, 1, 1, 1))
