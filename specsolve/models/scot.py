"""scOT, the Poseidon operator (Herde et al., "Poseidon: Efficient Foundation Models for PDEs", NeurIPS 2024).

A SwinV2 U-Net ``(B, in_channels, n, n), t (B,) -> (B, out_channels, n, n)``, ``t`` the lead time:

- patch embedding ``Conv2d(in, C, k = s = patch)`` -> LN, tokens on an ``(n/p)^2`` grid (no position embedding);
- encoder, level ``i = 0..L-1`` with width ``C 2^i``: ``depths[i]`` res-post-norm SwinV2 blocks (scaled cosine
  window attention, continuous log-spaced position bias, shift ``window/2`` on odd blocks; a level whose
  resolution is ``<= window`` uses one unshifted window); then, except at the last level,
  ``PatchMerging(hidden + stage input)`` (2x2 concat -> ``Linear(4C, 2C)`` -> LN);
- skips: the pre-merging state of level ``i`` passes ``skip_connections[i]`` ConvNeXt blocks;
- decoder, mirrored: starts from the (processed) bottleneck state; level ``i < L-1`` adds its skip, runs
  ``depths[i]`` blocks in reverse order of the encoder's (block ``b`` is shifted when ``depths[i] - 1 - b`` is
  odd, so with an even depth the first decoder block is the shifted one), and ``PatchUnmerging``
  (``Linear(d, 2d)`` -> 2x2 pixel shuffle -> LN -> ``Linear`` mixup, no biases) for ``i > 0``;
- patch recovery ``ConvTranspose2d(C, out, k = s = patch)`` -> ``Conv2d(out, out, 5x5, no bias)``;
- ``time_conditioning``: every layer norm is ``gamma(t) xhat + beta(t)``, ``gamma, beta = Linear(1, dim)(t)``;
- ``learn_residual``: the first ``out_channels`` input channels are added to the output (needs
  ``in_channels >= out_channels``).

Sizes of the paper (``scot_t`` / ``scot_s`` / ``scot_b`` / ``scot_l``): patch 4, window 16, MLP ratio 4,
heads (3, 6, 12, 24), skips (2, 2, 2, 0); embed 48 / 48 / 96 / 192, depths 4 / 8 / 8 / 8 per level.
The parameter count does not depend on the resolution (the position bias is an MLP of relative offsets).

Resolution: the model runs at any square ``n`` that ``patch * 2^(L-1)`` divides and whose per-level token grids
the windows tile. With ``image_size`` set, other resolutions are Fourier-resampled to ``image_size`` and the
output back, as Poseidon does.

The function is Poseidon's (``camlab-ethz/poseidon``, ``scOT/model.py``): its block order, norms (``layer_norm_eps``
in the blocks and ConvNeXt skips, 1e-5 in the embedding and the patch (un)merging), -100 shifted-window mask,
pixel-shuffle order, resampling and residual conventions, drop-path schedule and initialisation (Linear / Conv2d
``N(0, 0.02)`` with zero biases, the time-conditioning ``Linear(1, dim)`` included, so that ``gamma(t) = O(0.02) t``
at the start; ``ConvTranspose2d`` keeps PyTorch's default). ``tests/test_poseidon_reference.py`` checks the outputs
against Poseidon's code (stored fixture) and :mod:`specsolve.models.poseidon_checkpoint` loads its checkpoints.
Not supported: absolute position embeddings, dropout, the mask token, ResNet skip blocks.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from specsolve.errors import ConfigError, DataError
from specsolve.nn.checkpointing import checkpointed
from specsolve.nn.state_dict import match_state_dict, model_tensors
from specsolve.nn.swin import (
    ConditionalLayerNorm,
    ConvNeXtBlock,
    PatchMerging,
    PatchUnmerging,
    SwinV2Block,
    effective_window,
    make_norm,
)
from specsolve.registry import register


def fourier_resample(x: Tensor, n: int) -> Tensor:
    """Band-limited resampling of a periodic square field ``(B, C, m, m) -> (B, C, n, n)``, Poseidon's convention.

    With ``s = min(m, n)``, the Fourier modes ``-(s // 2) <= k <= (s - 1) // 2`` per axis (for even ``s`` the
    coarse grid's Nyquist mode ``-s/2`` included, unpaired) keep their amplitudes, all others are zero, and the
    real part is returned; a field made of modes ``|k| < s/2`` is interpolated exactly. FFTs run in float32 (or
    float64 for float64 input).
    """
    m = x.shape[-1]
    if n == m:
        return x
    with torch.autocast(device_type=x.device.type, enabled=False):
        xf = x if x.dtype == torch.float64 else x.float()
        spec = torch.fft.fft2(xf)
        s = min(m, n)
        freqs = torch.arange(-(s // 2), (s + 1) // 2, device=x.device)
        src, dst = freqs % m, freqs % n
        out = spec.new_zeros(*spec.shape[:-2], n, n)
        out[..., dst[:, None], dst[None, :]] = spec[..., src[:, None], src[None, :]]
        y = torch.fft.ifft2(out).real * (n * n / (m * m))
    return y.to(x.dtype)


class PatchEmbedding(nn.Module):
    """``(B, C_in, n, n) -> (B, n/p, n/p, C)``: ``Conv2d(k = s = p)`` then LN."""

    def __init__(self, in_channels: int, dim: int, patch: int, conditional: bool) -> None:
        super().__init__()
        self.projection = nn.Conv2d(in_channels, dim, kernel_size=patch, stride=patch)
        self.norm = make_norm(dim, conditional)

    def forward(self, x: Tensor, t: Tensor | None) -> Tensor:
        return self.norm(self.projection(x).permute(0, 2, 3, 1), t)


class PatchRecovery(nn.Module):
    """``(B, n/p, n/p, C) -> (B, C_out, n, n)``: ``ConvTranspose2d(k = s = p)`` then a 5x5 ``Conv2d`` mixup."""

    def __init__(self, dim: int, out_channels: int, patch: int) -> None:
        super().__init__()
        self.projection = nn.ConvTranspose2d(dim, out_channels, kernel_size=patch, stride=patch)
        self.mixup = nn.Conv2d(out_channels, out_channels, kernel_size=5, padding=2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.mixup(self.projection(x.permute(0, 3, 1, 2)))


@register("model", "scot")
class ScOT(nn.Module):
    """Poseidon's scOT: a time-conditioned SwinV2 U-Net, ``forward(x (B, C_in, n, n), t (B,)) -> (B, C_out, n, n)``.

    Defaults are the T size (about 20.8 M parameters with 4 in / 4 out channels). ``depths``, ``num_heads`` and
    ``skip_connections`` list one entry per level; ``embed_dim * 2^i`` must be divisible by ``num_heads[i]``.
    ``drop_path`` is the largest stochastic-depth rate: Poseidon's ``linspace(0, drop_path, 2 * sum(depths))``,
    the first half over the encoder blocks in order, the second half over the decoder blocks in execution order.
    ``image_size``: training resolution; set, it is checked at construction and other input sizes are Fourier-
    resampled to it. Without ``time_conditioning`` the norms are plain ``LayerNorm`` and ``t`` is ignored.
    ``layer_norm_eps``: of the norms in the SwinV2 and ConvNeXt blocks (Poseidon's config field of that name).
    ``norm_init``: ``"poseidon"`` (the time-conditioning ``Linear(1, dim)`` drawn ``N(0, 0.02)``, zero bias) or
    ``"identity"`` (gamma's bias 1: every conditional norm starts as a plain layer norm at ``t = 0``).
    ``activation_checkpointing``: every SwinV2 and ConvNeXt block keeps only its input for the backward pass and
    is recomputed there (:mod:`specsolve.nn.checkpointing`): same outputs and gradients, same state dict, less
    activation memory for one more forward of the blocks.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        embed_dim: int = 48,
        depths: tuple[int, ...] = (4, 4, 4, 4),
        num_heads: tuple[int, ...] = (3, 6, 12, 24),
        skip_connections: tuple[int, ...] = (2, 2, 2, 0),
        patch_size: int = 4,
        window_size: int = 16,
        mlp_ratio: float = 4.0,
        time_conditioning: bool = True,
        learn_residual: bool = False,
        drop_path: float = 0.0,
        qkv_bias: bool = True,
        image_size: int | None = None,
        layer_norm_eps: float = 1e-5,
        norm_init: str = "poseidon",
        activation_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        levels = len(depths)
        if in_channels < 1 or out_channels < 1:
            raise ConfigError("scot: in_channels and out_channels must be positive")
        if levels < 1 or len(num_heads) != levels or len(skip_connections) != levels:
            raise ConfigError(
                f"scot: depths, num_heads and skip_connections need one entry per level, got {len(depths)}, "
                f"{len(num_heads)}, {len(skip_connections)}"
            )
        if any(d < 1 for d in depths) or any(s < 0 for s in skip_connections):
            raise ConfigError("scot: depths must be >= 1 and skip_connections >= 0")
        if embed_dim < 1 or patch_size < 1 or window_size < 1 or mlp_ratio <= 0 or not 0 <= drop_path < 1:
            raise ConfigError(
                "scot: embed_dim, patch_size, window_size, mlp_ratio must be positive, 0 <= drop_path < 1"
            )
        dims = [embed_dim * 2**i for i in range(levels)]
        for i, (dim, heads) in enumerate(zip(dims, num_heads)):
            if heads < 1 or dim % heads:
                raise ConfigError(f"scot: level {i} width {dim} is not divisible by num_heads[{i}]={heads}")
        if learn_residual and in_channels < out_channels:
            raise ConfigError(
                f"scot: learn_residual adds the input to the output and needs in_channels >= out_channels, got "
                f"{in_channels} and {out_channels}"
            )
        if norm_init not in ("poseidon", "identity"):
            raise ConfigError(f"scot: norm_init must be 'poseidon' or 'identity', got {norm_init!r}")
        if not layer_norm_eps > 0:
            raise ConfigError(f"scot: layer_norm_eps must be positive, got {layer_norm_eps}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.patch_size, self.window_size = patch_size, window_size
        self.levels = levels
        self.time_conditioning, self.learn_residual = time_conditioning, learn_residual
        self.image_size = image_size
        if image_size is not None:
            problem = self.tiling_problem(image_size)
            if problem:
                raise ConfigError(f"scot: image_size {problem}")

        self.norm_init = norm_init
        self.activation_checkpointing = activation_checkpointing
        cond, eps = time_conditioning, layer_norm_eps
        total = sum(depths)
        rates = torch.linspace(0.0, drop_path, 2 * total, dtype=torch.float32, device="cpu").tolist()
        enc_rates, dec_rates = rates[:total], rates[total:]

        def block(i: int, shifted: bool, rate: float) -> SwinV2Block:
            return SwinV2Block(
                dims[i], num_heads[i], window_size, shifted, mlp_ratio, rate, cond, qkv_bias, eps, POSEIDON_MASK
            )

        def encoder_level(i: int) -> nn.ModuleList:
            start = sum(depths[:i])
            return nn.ModuleList(block(i, b % 2 == 1, enc_rates[start + b]) for b in range(depths[i]))

        def decoder_level(i: int) -> nn.ModuleList:  # executed deepest level first
            start = sum(depths[i + 1 :])
            return nn.ModuleList(block(i, (depths[i] - 1 - b) % 2 == 1, dec_rates[start + b]) for b in range(depths[i]))

        self.embedding = PatchEmbedding(in_channels, embed_dim, patch_size, cond)
        self.encoder = nn.ModuleList(encoder_level(i) for i in range(levels))
        self.merges = nn.ModuleList(PatchMerging(dims[i], cond) for i in range(levels - 1))
        self.skip_blocks = nn.ModuleList(
            nn.ModuleList(ConvNeXtBlock(dims[i], cond, eps=eps) for _ in range(skip_connections[i]))
            for i in range(levels)
        )
        self.decoder = nn.ModuleList(decoder_level(i) for i in range(levels))
        self.unmerges = nn.ModuleList(PatchUnmerging(dims[i + 1], cond) for i in range(levels - 1))
        self.recovery = PatchRecovery(embed_dim, out_channels, patch_size)
        if not self.recovery.mixup.weight.is_meta:  # meta tensors (shape-only construction) need no init
            self.apply(_init_weights)
            if norm_init == "identity":
                for module in self.modules():
                    if isinstance(module, ConditionalLayerNorm):
                        module.reset_parameters()

    def tiling_problem(self, n: int) -> str | None:
        """Why an ``n x n`` grid cannot be processed (None if it can)."""
        factor = self.patch_size * 2 ** (self.levels - 1)
        if n % factor:
            return f"{n} is not divisible by patch_size * 2^(levels-1) = {factor}"
        for i in range(self.levels):
            res = n // self.patch_size // 2**i
            window, _ = effective_window(res, self.window_size, False)
            if res % window:
                return f"{n}: level {i} has {res}x{res} tokens, which {window}x{window} windows do not tile"
        return None

    def _lead_times(self, t: Tensor | float | None, x: Tensor) -> Tensor | None:
        if not self.time_conditioning:
            return None
        if t is None:
            raise DataError("scot with time_conditioning=True needs the lead times t (one per sample)")
        t = torch.as_tensor(t, device=x.device, dtype=x.dtype)
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        t = t.reshape(-1) if t.dim() == 2 and t.shape[1] == 1 else t
        if t.shape != (x.shape[0],):
            raise DataError(f"scot: lead times t must have shape ({x.shape[0]},), got {tuple(t.shape)}")
        return t

    def forward(self, x: Tensor, t: Tensor | float | None = None) -> Tensor:
        if x.dim() != 4:
            raise DataError(f"scot expects (batch, channels, n, n) fields, got shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels:
            raise DataError(f"scot expects {self.in_channels} input channels, got {x.shape[1]}")
        n = x.shape[-1]
        if x.shape[-2] != n:
            raise DataError(f"scot needs square inputs, got a {x.shape[-2]}x{n} grid")
        tt = self._lead_times(t, x)
        if self.image_size is not None and n != self.image_size:
            x = fourier_resample(x, self.image_size)
        problem = self.tiling_problem(x.shape[-1])
        if problem:
            raise DataError(f"scot (patch {self.patch_size}, window {self.window_size}): grid {problem}")

        h = self.embedding(x, tt)
        skips = []
        for i in range(self.levels):
            stage_input = h
            for block in self.encoder[i]:
                h = checkpointed(self.activation_checkpointing, block, h, tt)
            skips.append(h)
            if i < self.levels - 1:
                h = self.merges[i](h + stage_input, tt)
        for i, convnexts in enumerate(self.skip_blocks):
            for block in convnexts:
                skips[i] = checkpointed(self.activation_checkpointing, block, skips[i], tt)
        h = skips[-1]
        for i in reversed(range(self.levels)):
            if i < self.levels - 1:
                h = h + skips[i]
            for block in self.decoder[i]:
                h = checkpointed(self.activation_checkpointing, block, h, tt)
            if i > 0:
                h = self.unmerges[i - 1](h, tt)
        out = self.recovery(h)
        if self.learn_residual:  # Poseidon: at the model's resolution, before resampling back
            out = out + x[:, : self.out_channels]
        if out.shape[-1] != n:
            out = fourier_resample(out, n)
        return out


# Poseidon's (and the SwinV2 code's) additive logit of token pairs that a shifted window separates
POSEIDON_MASK = -100.0


def _init_weights(module: nn.Module) -> None:
    """Poseidon's (Hugging Face SwinV2) init: ``nn.Linear`` and ``nn.Conv2d`` weights ``N(0, 0.02)``, zero biases
    (the ``Linear(1, dim)`` of the conditional norms included), layer norms ``(1, 0)``; other modules
    (``ConvTranspose2d``, the attention's logit scale, ConvNeXt layer scales) keep their own init."""
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        nn.init.normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def _preset(size: str) -> dict:
    embed, depth = {"T": (48, 4), "S": (48, 8), "B": (96, 8), "L": (192, 8)}[size]
    return dict(
        embed_dim=embed,
        depths=(depth,) * 4,
        num_heads=(3, 6, 12, 24),
        skip_connections=(2, 2, 2, 0),
        patch_size=4,
        window_size=16,
        mlp_ratio=4.0,
    )


def _preset_factory(size: str, doc: str) -> Callable[..., ScOT]:
    """A registered factory for one size preset: ScOT's signature less the architecture keys the preset fixes."""

    def factory(
        in_channels: int,
        out_channels: int,
        time_conditioning: bool = True,
        learn_residual: bool = False,
        drop_path: float = 0.0,
        image_size: int | None = 128,
        activation_checkpointing: bool = False,
    ) -> ScOT:
        return ScOT(
            in_channels,
            out_channels,
            **_preset(size),
            time_conditioning=time_conditioning,
            learn_residual=learn_residual,
            drop_path=drop_path,
            image_size=image_size,
            activation_checkpointing=activation_checkpointing,
        )

    name = f"scot_{size.lower()}"
    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = doc
    return register("model", name)(factory)


scot_t = _preset_factory(
    "T", "scOT-T (Poseidon-T): embed 48, depths (4, 4, 4, 4), about 20.8 M parameters at 4 in / 4 out."
)
scot_s = _preset_factory("S", "scOT-S (in the Poseidon code only): embed 48, depths (8, 8, 8, 8).")
scot_b = _preset_factory("B", "scOT-B (Poseidon-B): embed 96, depths (8, 8, 8, 8), about 158 M parameters.")
scot_l = _preset_factory("L", "scOT-L (Poseidon-L): embed 192, depths (8, 8, 8, 8), about 629 M parameters.")


# --- fine-tuning -------------------------------------------------------------------------------------

# Parameter-name patterns of the groups Poseidon fine-tunes with a larger learning rate (scOT/trainer.py: every
# parameter of the embedding (its norm included) and recovery; the conditional norms' Linear(1, dim)).
EMBEDDING_RECOVERY = ["embedding.*", "recovery.*"]
TIME_CONDITIONING = ["*norm*.weight.*", "*norm*.bias.*"]
# Poseidon's fine-tuning optimizer groups as ``optimizer.param_groups`` (first match wins; the body, lr 5e-5 and the
# run's weight decay, is the default group): embedding / recovery at 5e-4 with weight decay, the time-conditioning
# norms at 5e-4 without, biases and other norm parameters without weight decay.
POSEIDON_PARAM_GROUPS = [
    {"params": EMBEDDING_RECOVERY, "lr": 5e-4},
    {"params": TIME_CONDITIONING, "lr": 5e-4, "weight_decay": 0.0},
    {"params": ["*.bias", "*norm*"], "weight_decay": 0.0},
]


def load_weights(model: nn.Module, path: str | Path) -> dict[str, list[str]]:
    """Load a local checkpoint into ``model``, matching by name and shape; nothing is reinitialised silently.

    Accepts a specsolve/Lightning checkpoint (``state_dict`` with ``model.`` prefixes) or a plain state dict,
    read with ``weights_only=True``. Returns ``{"loaded", "missing", "mismatched", "unexpected"}`` name lists;
    tensors whose shape differs keep their current values and are listed under ``mismatched``.
    """
    state, _ = model_tensors(path)
    usable, report = match_state_dict(model, state)
    model.load_state_dict(usable, strict=False)
    return report


def adapt_for_finetuning(
    model: ScOT, in_channels: int, out_channels: int, trainable: list[str] | None = None
) -> list[str]:
    """Prepare a (pre)trained :class:`ScOT` for a new task, in place; returns the names of trainable parameters.

    New channel counts replace the patch embedding's convolution and/or the patch recovery (fresh init), as
    Poseidon's ``--replace_embedding_recovery``. ``trainable``: ``fnmatch`` patterns over parameter names; only
    matching parameters keep ``requires_grad`` (None = all trainable). E.g. ``EMBEDDING_RECOVERY +
    TIME_CONDITIONING`` for the groups Poseidon trains with a 10x learning rate.
    """
    dim = model.embedding.projection.out_channels
    like = model.embedding.projection.weight
    if in_channels != model.in_channels:
        model.embedding.projection = nn.Conv2d(in_channels, dim, model.patch_size, model.patch_size)
        model.embedding.projection.apply(_init_weights)
        model.in_channels = in_channels
    if out_channels != model.out_channels:
        model.recovery = PatchRecovery(dim, out_channels, model.patch_size)
        model.recovery.apply(_init_weights)
        model.out_channels = out_channels
    if model.learn_residual and model.in_channels < model.out_channels:
        raise ConfigError("scot: learn_residual needs in_channels >= out_channels after adaptation")
    model.to(device=like.device, dtype=like.dtype)
    names = []
    for name, param in model.named_parameters():
        param.requires_grad_(trainable is None or any(fnmatch.fnmatchcase(name, pat) for pat in trainable))
        if param.requires_grad:
            names.append(name)
    if trainable is not None and not names:
        raise ConfigError(f"scot: no parameter matches the trainable patterns {trainable}")
    return names
