"""Spectral-Refiner spatiotemporal FNO ("STFNO", the paper's ST-FNO; Cao, Brarda, Li, Xi, ICLR 2025, arXiv 2405.17211).

A trajectory-to-trajectory operator between Bochner spaces: a window of ``T_in`` frames goes in, any requested
number ``out_steps`` of future frames comes out; time is an FFT axis in every layer, never a channel axis.
Not the spherical FNO of Bonev et al. (that one would be registered under another name).

Layout: input ``(B, T_in, C, X, Y)``, output ``(B, out_steps, C, X, Y)`` (the project's time contract: time on
axis 1, channels on axis 2); internally ``(B, C, X, Y, T)``. Fine-tuning support: :func:`enlarge_output_layer`.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from specsolve.errors import ConfigError
from specsolve.nn.checkpointing import checkpointed
from specsolve.nn.spacetime import (
    PointwiseFFN,
    SpaceTimeSpectralConv,
    helmholtz_project,
    irfftn_at_times,
    space_time_encoding,
)
from specsolve.registry import register

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU}


@register("model", "st_fno")
class STFNO(nn.Module):
    """Spectral-Refiner spatiotemporal FNO: ``(B, T_in, C, X, Y) -> (B, out_steps, C, X, Y)``.

    1. **Lifting.** Each input channel gets the fixed ``width``-channel space-time encoding added
       (see :func:`~specsolve.nn.spacetime.space_time_encoding`; ``C * width`` channels),
       then ``GroupNorm(1, C * width, eps=1e-7)`` (a LayerNorm over channels, space and time per sample, in place
       of a data normaliser), a 1x1 conv to ``width``, a space-time spectral conv whose inverse FFT resamples time
       to ``latent_steps``, a pointwise FFN (``width -> 4 width -> width``), and the skip from the last time slice
       ``v = act(v[..., -1:] + w)``.
    2. **Blocks** (``num_spectral_layers - 1``, FNO3d style): ``v <- act(FFN(K v) + Conv1x1(v))``, ``K`` the
       space-time spectral conv keeping ``kx, ky in {0..m-1} U {-m..-1}``, ``kt in [0, m_t)``; activation after
       the last block too (as the reference).
    3. **Reduction** ``Conv1x1(width -> C)``.
    4. **Output operator.** Prepend the last input frame to the latent trajectory (``L + 1`` steps), left pad
       time with ``L + 1`` zeros, apply a ``C -> C`` space-time spectral conv with a complex spectral bias
       (zero-init, scaled by ``delta = 0.1``), invert to ``out_steps + 1 + (L + 1)`` steps, keep the last
       ``out_steps`` and add the last input frame (residual in time).
    5. Optional (``divergence_free``, 2-component velocity): Leray projection of the output. The reference
       projects only the spectral-conv increment; projecting the sum is the same map for divergence-free inputs and
       makes the output divergence-free for any input.

    FFTs use ``norm="backward"`` as the reference: space is resolution-consistent; resampling time from ``n`` to
    ``n'`` steps scales amplitudes by ``n / n'`` (1 when ``T_in = latent_steps = out_steps``, the training setting
    of the paper). Modes beyond a coarse grid's Nyquist limit are dropped, so any grid >= 2x2 and any ``T_in`` work.

    Parameters
    ----------
    in_channels, out_channels : field components (1 vorticity, 2 velocity); must be equal (residual in time).
    modes : kept Fourier modes per sign in x and y.
    modes_t : kept modes of the real FFT in time.
    width : latent channels (>= 4: 3 coordinates + at least one temporal feature).
    latent_steps : time steps of the latent trajectory.
    out_steps : default number of output steps (``forward(x, out_steps=...)`` overrides it).
    num_spectral_layers : spectral convs before the output operator (the lifting's one included).
    beta : exponent of the temporal encoding ``e^{beta t}`` (0.01-0.02 forced NSE, -0.01 decaying turbulence).
    activation : ``"relu"`` (reference default) or ``"gelu"`` (the reference's training script).
    divergence_free : Helmholtz-project the (2-component) output.
    max_steps : time horizon of the encoding ``t = linspace(0, 1, max_steps + 1)[1 : T_in + 1]`` (T_in <= it).
    resolution_consistent_bias : define the output layer's spectral bias per grid point
        (``bias_norm="forward"`` of :class:`~specsolve.nn.spacetime.SpaceTimeSpectralConv`), so the source term
        it adds has the same real-space amplitude on every grid and for every output length. Off (the
        reference): its amplitude is ``delta b / (X Y T_out)``, so a bias fitted on one grid (spectral
        fine-tuning) is ``(N'/N)`` times too weak on a grid of ``N'`` points. Changes the parameterisation: a
        state dict trained with one setting is not the same model under the other.
    temporal_resampling : what a ``forward(x, out_steps=T')`` other than the configured ``out_steps`` does.
        ``"reference"`` (default, the reference code): the output operator's inverse FFT in time gets length
        ``T' + 1 + (L + 1)`` instead of ``T + 1 + (L + 1)``, which is not a finer sampling of the same trajectory:
        amplitudes scale by ``(T + L + 2) / (T' + L + 2)`` and the instants move. ``"horizon"``: true temporal
        resampling, the trained horizon of ``out_steps`` steps sampled at ``T'`` equally spaced instants
        (step ``j`` at ``j T / T'`` training steps after the last input frame), amplitudes kept; the output
        spectrum is that of the configured length, evaluated at those instants. ``"strict"``: any other
        ``T'`` is an error.
    activation_checkpointing : the lifting and every block keep only their inputs for the backward pass and are
        recomputed there (:mod:`specsolve.nn.checkpointing`): same outputs, gradients and state dict, less
        activation memory (the ``4 width``-channel FFN intermediates) for one more forward of the encoder.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes: int = 12,
        modes_t: int = 5,
        width: int = 20,
        latent_steps: int = 10,
        out_steps: int = 10,
        num_spectral_layers: int = 4,
        beta: float = 0.01,
        activation: Literal["relu", "gelu"] = "relu",
        divergence_free: bool = False,
        max_steps: int = 100,
        resolution_consistent_bias: bool = False,
        temporal_resampling: Literal["reference", "horizon", "strict"] = "reference",
        activation_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        if in_channels < 1 or in_channels != out_channels:
            raise ConfigError(
                f"st_fno: in_channels ({in_channels}) and out_channels ({out_channels}) must be equal and >= 1 "
                "(the output adds the last input frame)"
            )
        for name, value, low in (
            ("modes", modes, 1),
            ("modes_t", modes_t, 1),
            ("width", width, 4),
            ("latent_steps", latent_steps, 1),
            ("out_steps", out_steps, 1),
            ("num_spectral_layers", num_spectral_layers, 1),
            ("max_steps", max_steps, 1),
        ):
            if value < low:
                raise ConfigError(f"st_fno: {name} must be >= {low}, got {value}")
        if activation not in _ACTIVATIONS:
            raise ConfigError(f"st_fno: activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if temporal_resampling not in ("reference", "horizon", "strict"):
            raise ConfigError(
                f"st_fno: temporal_resampling must be 'reference', 'horizon' or 'strict', got {temporal_resampling!r}"
            )
        if divergence_free and out_channels != 2:
            raise ConfigError(f"st_fno: divergence_free needs out_channels=2 (velocity), got {out_channels}")

        self.in_channels, self.out_channels = in_channels, out_channels
        self.modes, self.modes_t, self.width = modes, modes_t, width
        self.latent_steps, self.out_steps = latent_steps, out_steps
        self.beta, self.max_steps = beta, max_steps
        self.divergence_free = divergence_free
        self.temporal_resampling = temporal_resampling
        self.activation_checkpointing = activation_checkpointing
        act = _ACTIVATIONS[activation]
        self.activation = act()

        # lifting operator
        self.norm = nn.GroupNorm(1, in_channels * width, eps=1e-7)
        self.lift = nn.Conv3d(in_channels * width, width, kernel_size=1)
        self.lift_conv = SpaceTimeSpectralConv(width, width, modes, modes, modes_t)
        self.lift_ffn = PointwiseFFN(width, 4, act())
        # FNO3d-style blocks
        n_blocks = num_spectral_layers - 1
        self.spectral_convs = nn.ModuleList(
            SpaceTimeSpectralConv(width, width, modes, modes, modes_t) for _ in range(n_blocks)
        )
        self.ffns = nn.ModuleList(PointwiseFFN(width, 4, act()) for _ in range(n_blocks))
        self.pointwise = nn.ModuleList(nn.Conv3d(width, width, kernel_size=1) for _ in range(n_blocks))
        # reduction and output operator
        self.reduction = nn.Conv3d(width, out_channels, kernel_size=1)
        self.output_conv = SpaceTimeSpectralConv(
            out_channels,
            out_channels,
            modes,
            modes,
            modes_t,
            bias=True,
            delta=0.1,
            bias_norm="forward" if resolution_consistent_bias else "backward",
        )

    def lifting(self, v: Tensor) -> Tensor:
        """``(B, C, X, Y, T_in) -> (B, width, X, Y, latent_steps)``."""
        nx, ny, nt = v.shape[-3:]
        pe = space_time_encoding(nx, ny, nt, self.width, self.beta, self.max_steps, v.dtype, v.device)
        v = (v[:, :, None] + pe).flatten(1, 2)  # (B, C * width, X, Y, T_in)
        v = self.lift(self.norm(v))
        w = self.lift_ffn(self.lift_conv(v, out_steps=self.latent_steps))
        return self.activation(v[..., -1:] + w)

    def output_operator(self, v: Tensor, last: Tensor, out_steps: int) -> Tensor:
        """Latent ``(B, C, X, Y, L)`` and last input frame ``(B, C, X, Y, 1)`` -> ``(B, C, X, Y, out_steps)``."""
        v = torch.cat([last.to(v.dtype), v], dim=-1)
        if self.temporal_resampling == "horizon" and out_steps != self.out_steps:
            trained = self.out_steps
            out_hat, _, n_out = self.output_conv.spectrum(v, out_steps=trained + 1, temporal_padding=True)
            # index n_out - trained - 1 is the prepended last frame; step j of T' lands j * trained / T' later
            j = torch.arange(1, out_steps + 1, dtype=out_hat.real.dtype, device=v.device)
            times = (n_out - trained - 1) + j * (trained / out_steps)
            return last + irfftn_at_times(out_hat, n_out, times).to(last.dtype)
        v = self.output_conv(v, out_steps=out_steps + 1, temporal_padding=True)
        return last + v[..., -out_steps:]

    def encode(self, x: Tensor) -> Tensor:
        """Everything before the output operator: ``(B, T_in, C, X, Y) -> (B, C, X, Y, latent_steps)``.

        Frozen during spectral fine-tuning, so it can be computed once and fed to :meth:`decode`.
        """
        if x.ndim != 5 or x.shape[2] != self.in_channels:
            raise ValueError(f"st_fno expects (B, T_in, {self.in_channels}, X, Y), got {tuple(x.shape)}")
        v = checkpointed(self.activation_checkpointing, self.lifting, x.permute(0, 2, 3, 4, 1))  # (B, width, X, Y, L)
        for i in range(len(self.spectral_convs)):
            v = checkpointed(self.activation_checkpointing, self.block, i, v)
        return self.reduction(v)

    def block(self, i: int, v: Tensor) -> Tensor:
        """Block ``i``: ``act(FFN(K v) + Conv1x1(v))`` on ``(B, width, X, Y, L)``."""
        return self.activation(self.ffns[i](self.spectral_convs[i](v)) + self.pointwise[i](v))

    def decode(self, latent: Tensor, x: Tensor, out_steps: int | None = None) -> Tensor:
        """Output operator (and projection): latent ``(B, C, X, Y, L)`` and the input window ``(B, T_in, C, X, Y)``
        (only its last frame is used) -> ``(B, out_steps, C, X, Y)``."""
        out_steps = self.out_steps if out_steps is None else int(out_steps)
        if out_steps < 1:
            raise ValueError(f"st_fno: out_steps must be >= 1, got {out_steps}")
        if self.temporal_resampling == "strict" and out_steps != self.out_steps:
            raise ConfigError(
                f"st_fno: out_steps={out_steps} differs from the trained out_steps={self.out_steps} and "
                "temporal_resampling is 'strict' (use 'horizon' for a resampled trajectory over the same horizon)"
            )
        last = x[:, -1:].permute(0, 2, 3, 4, 1)  # (B, C, X, Y, 1)
        out = self.output_operator(latent, last, out_steps).permute(0, 4, 1, 2, 3)  # (B, out_steps, C, X, Y)
        if self.divergence_free:
            out = helmholtz_project(out, channel_dim=2)
        return out

    def forward(self, x: Tensor, out_steps: int | None = None) -> Tensor:
        """``x``: ``(B, T_in, C, X, Y)``; returns ``(B, out_steps, C, X, Y)`` (``out_steps`` defaults to the
        constructor's)."""
        return self.decode(self.encode(x), x, out_steps)


def enlarge_output_layer(model: STFNO, modes: int, modes_t: int) -> STFNO:
    """Prepare ``model`` for spectral fine-tuning (in place; returns it).

    Freezes every parameter, then replaces the output operator's spectral conv by one keeping ``modes`` per sign
    in x, y and ``modes_t`` in t (pick ``modes = n // 2`` on an ``n``-point fine grid for no frequency truncation).
    The old weights and spectral bias are copied into the same frequencies (non-negative groups into the first
    ``m`` entries, negative groups into the last ``m`` entries, time into ``[0, m_t)``); the new frequencies get
    a tiny Xavier-uniform init (gain 1e-6) for the weights and zero for the bias. Only the new layer trains.
    """
    old = model.output_conv
    if modes < old.modes_x or modes_t < old.modes_t:
        raise ConfigError(
            f"enlarge_output_layer: new modes ({modes}, {modes_t}) must be >= the current "
            f"({old.modes_x}, {old.modes_t})"
        )
    ref = old.weight[0]
    new = SpaceTimeSpectralConv(
        old.in_channels, old.out_channels, modes, modes, modes_t, bias=True, delta=old.delta, bias_norm=old.bias_norm
    ).to(device=ref.device, dtype=ref.dtype)
    mx, my, mt = old.modes_x, old.modes_y, old.modes_t
    with torch.no_grad():
        for group in range(4):
            ix, iy = group % 2, group // 2
            sx = slice(modes - mx, modes) if ix else slice(0, mx)
            sy = slice(modes - my, modes) if iy else slice(0, my)
            nn.init.xavier_uniform_(new.weight[group], gain=1e-6)
            new.weight[group][:, :, sx, sy, :mt] = old.weight[group]
            new.bias[group].zero_()
            if old.bias is not None:
                new.bias[group][:, sx, sy, :mt] = old.bias[group]
    for p in model.parameters():
        p.requires_grad_(False)
    model.output_conv = new
    return model
