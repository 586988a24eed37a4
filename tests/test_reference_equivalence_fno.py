"""FNO against neuraloperator 2.0.0 (MIT, the ``reference`` test extra): our weights in their model, same outputs.

The mapping (``to_neuralop``) follows the conventions in ``docs``/the operators reference: our per-dimension
``modes=m`` is neuraloperator's total count ``n_modes=(2m, ..., 2m-2)`` (the rfft axis keeps ``n//2+1``); their
weights are fft-shifted along every non-rfft axis (negative frequencies first), complex, ``fft_norm="forward"``
(the same map as ours for the same kernel); their spectral-conv bias is our 1x1 ``W`` bias and their ``fno_skip``
our ``W`` weight; we switch off their positional embedding (``linspace(0, 1, n + 1)[:-1]``) and append the original
FNO code's grid ``linspace(0, 1, n)`` (endpoint included, the paper convention) to the input ourselves. Two reference quirks are bridged here, not in specsolve:

- without a channel MLP neuraloperator applies its non-linearity twice between blocks (``act(act(.))``); the
  ``once_per_block`` adapter lets every second call through unchanged (ReLU is idempotent and needs no adapter);
- its spectral convolution allocates the output spectrum as complex64 whatever the input, and inverts its
  ``fftshift`` with another ``fftshift`` (wrong by one mode on odd grid sizes): ``reference_fixes`` bridges both.

neuraloperator 2.0 pads symmetrically only; our (and the original code's) right-sided padding is compared by
running the reference's own lifting, blocks and projection around a right zero-pad (``reference_with_right_pad``).
Run: ``pip install -e .[reference]`` then ``pytest tests/test_reference_equivalence_fno.py``.
"""

from __future__ import annotations

import types

import pytest
import torch
import torch.nn.functional as F

from specsolve.models.fno import FNO

neuralop = pytest.importorskip("neuralop")
spectral_convolution = pytest.importorskip("neuralop.layers.spectral_convolution")
NeuralopFNO = neuralop.models.FNO

TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


class once_per_block:  # noqa: N801 - used like a function
    """``act`` on odd calls, identity on even ones: undoes the reference's second activation between blocks."""

    def __init__(self, act) -> None:
        self.act, self.calls = act, 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.act(x) if self.calls % 2 == 1 else x


@pytest.fixture
def reference_fixes(monkeypatch, dtype):
    """Two bridges inside neuraloperator's spectral convolution, through a stand-in for its ``torch`` module:

    - in float64 it allocates the output spectrum as complex64 (hard-coded ``cfloat``): promote to complex128;
    - it undoes its forward ``fftshift`` with a second ``fftshift`` instead of ``ifftshift``, which is a roll by one
      on odd grid sizes (a 9e-4 relative error at 85x85): every second call (the inverse one) is an ``ifftshift``.
    """
    real_torch = spectral_convolution.torch
    calls = {"shift": 0}

    def zeros(*args, dtype=None, **kwargs):
        if dtype == real_torch.cfloat and promote:
            dtype = real_torch.cdouble
        return real_torch.zeros(*args, dtype=dtype, **kwargs)

    def fftshift(x, dim=None):
        calls["shift"] += 1
        shift = real_torch.fft.fftshift if calls["shift"] % 2 == 1 else real_torch.fft.ifftshift
        return shift(x, dim=dim)

    promote = dtype == torch.float64
    shim = types.SimpleNamespace(**{name: getattr(real_torch, name) for name in dir(real_torch) if name[:2] != "__"})
    shim.zeros = zeros
    shim.fft = types.SimpleNamespace(**{n: getattr(real_torch.fft, n) for n in dir(real_torch.fft) if n[:2] != "__"})
    shim.fft.fftshift = fftshift
    monkeypatch.setattr(spectral_convolution, "torch", shim)


def neuralop_model(ours: FNO, in_channels: int, activation: str):
    ndim, modes = ours.ndim, ours.modes
    n_modes = tuple(2 * m for m in modes[:-1]) + (2 * modes[-1] - 2,)
    width = ours.lift.out_features
    act = F.relu if activation == "relu" else F.gelu
    ref = NeuralopFNO(
        n_modes=n_modes,
        in_channels=in_channels + ndim,
        out_channels=ours.project_out.out_features,
        hidden_channels=width,
        n_layers=len(ours.spectral),
        lifting_channel_ratio=0,
        projection_channel_ratio=ours.project_hidden.out_features / width,
        use_channel_mlp=False,
        fno_skip="linear",
        positional_embedding=None,
        non_linearity=act,
    )
    if activation != "relu":
        ref.fno_blocks.non_linearity = once_per_block(act)
    return ref


def to_neuralop(ours: FNO, ref, dtype: torch.dtype) -> None:
    """Copy our weights into the neuraloperator FNO ``ref`` (in place), cast to ``dtype``."""
    ref.double() if dtype == torch.float64 else ref.float()  # real tensors only; the complex weights are set below
    cdtype = torch.cdouble if dtype == torch.float64 else torch.cfloat
    ndim = ours.ndim
    with torch.no_grad():
        ref.lifting.fcs[0].weight.copy_(ours.lift.weight.unsqueeze(-1))
        ref.lifting.fcs[0].bias.copy_(ours.lift.bias)
        for i, (spec, point) in enumerate(zip(ours.spectral, ours.pointwise)):
            w = torch.complex(spec.weight[..., 0], spec.weight[..., 1]).to(cdtype)
            for axis, m in enumerate(ours.modes[:-1]):  # ours: 0..m-1, -m..-1; theirs: -m..-1, 0..m-1
                w = torch.roll(w, shifts=m, dims=2 + axis)
            conv = ref.fno_blocks.convs[i]
            conv.weight.tensor = torch.nn.Parameter(w)
            conv.bias.copy_(point.linear.bias.view(-1, *[1] * ndim))
            ref.fno_blocks.fno_skips[i].conv.weight.copy_(point.linear.weight.unsqueeze(-1))
        ref.projection.fcs[0].weight.copy_(ours.project_hidden.weight.unsqueeze(-1))
        ref.projection.fcs[0].bias.copy_(ours.project_hidden.bias)
        ref.projection.fcs[1].weight.copy_(ours.project_out.weight.unsqueeze(-1))
        ref.projection.fcs[1].bias.copy_(ours.project_out.bias)


def with_grid(x: torch.Tensor) -> torch.Tensor:
    """``x`` with the original FNO code's coordinates appended: ``linspace(0, 1, n)`` per axis, endpoint included
    (built here, not with our ``grid_features``, so that the grid convention is under test too)."""
    axes = [torch.linspace(0, 1, n, dtype=x.dtype) for n in x.shape[2:]]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"))
    return torch.cat([x, grid.expand(x.shape[0], *grid.shape)], dim=1)


def reference_with_right_pad(ref, x: torch.Tensor, padding: int) -> torch.Tensor:
    """The reference's lifting, Fourier blocks and projection around a right zero-pad of every spatial axis."""
    spatial = x.shape[2:]
    v = F.pad(ref.lifting(with_grid(x)), [0, padding] * len(spatial))
    for i in range(ref.n_layers):
        v = ref.fno_blocks(v, i)
    return ref.projection(v[(..., *[slice(0, n) for n in spatial])])


def perturbed(model: FNO) -> FNO:
    """Break the init's symmetries (positive spectral weights, zero-mean biases) so every block matters."""
    with torch.no_grad():
        for spec in model.spectral:
            spec.weight.add_(torch.randn_like(spec.weight) * spec.weight.abs().mean())
    return model


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


# (name, in_channels, modes, width, layers, grid shape, activation, padding): the papers' configurations
# (Darcy 85x85, NS-2D with 10 input steps, Burgers 1D, NS-3D at a reduced grid) and a tiny one
CONFIGS = [
    ("tiny", 1, [4, 4], 8, 2, (16, 16), "gelu", 0),
    ("darcy_m12_w32", 1, [12, 12], 32, 4, (85, 85), "gelu", 0),
    ("ns2d_m12_w20", 10, [12, 12], 20, 4, (64, 64), "gelu", 0),
    ("burgers_m16_w64", 1, [16], 64, 4, (1024,), "gelu", 0),
    ("ns3d_m8_w20", 10, [8, 8, 8], 20, 4, (16, 16, 16), "gelu", 0),
    ("tiny_relu", 1, [4, 4], 8, 3, (16, 12), "relu", 0),
]
PADDED = [
    ("tiny_pad3", 1, [4, 4], 8, 2, (16, 16), "gelu", 3),
    ("darcy_m12_w32_pad9", 1, [12, 12], 32, 4, (85, 85), "gelu", 9),
]


def build(config, dtype):
    _, cin, modes, width, layers, shape, activation, padding = config
    torch.manual_seed(0)
    ours = perturbed(FNO(cin, 1, modes, width=width, layers=layers, activation=activation, padding=padding))
    ref = neuralop_model(ours, cin, activation)
    to_neuralop(ours, ref, dtype)
    ours.to(dtype)
    x = torch.randn(2, cin, *shape, dtype=dtype)
    return ours, ref, x


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
@pytest.mark.parametrize("config", CONFIGS, ids=[c[0] for c in CONFIGS])
@pytest.mark.parametrize("backend", ["dft", "fft"])
def test_fno_matches_neuraloperator(config, dtype, backend, reference_fixes) -> None:
    ours, ref, x = build(config, dtype)
    for spec in ours.spectral:
        spec.backend = backend
    with torch.no_grad():
        expected = ref(with_grid(x))
        got = ours(x)
    assert got.dtype == dtype and expected.dtype == dtype
    assert rel_diff(got, expected) <= TOL[dtype]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
@pytest.mark.parametrize("config", PADDED, ids=[c[0] for c in PADDED])
def test_fno_padding_matches_reference_blocks_with_right_pad(config, dtype, reference_fixes) -> None:
    ours, ref, x = build(config, dtype)
    with torch.no_grad():
        expected = reference_with_right_pad(ref, x, config[-1])
        got = ours(x)
    assert rel_diff(got, expected) <= TOL[dtype]
