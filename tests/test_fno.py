"""FNO: the paper's structure and parameter counts, spectral truncation, resolution invariance, regression."""

from __future__ import annotations

import pytest
import torch
from regression import assert_matches_stored

import specsolve
import specsolve.models.fno
from specsolve.errors import ConfigError, DataError
from specsolve.nn.spectral_conv import SpectralConv


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_paper_parameter_counts() -> None:
    darcy = specsolve.create("model", "fno", in_channels=1, out_channels=1, modes=[12, 12], width=32, padding=9)
    assert n_params(darcy) == 2_368_001  # original FNO2d, Darcy (references/operators.md §1.3)
    ns3d = specsolve.create("model", "fno", in_channels=10, out_channels=1, modes=[8, 8, 8], width=20)
    assert n_params(ns3d) == 6_558_537 - 4 * 40  # the paper's count includes 4 BatchNorm layers (2 x 20 each)


@pytest.mark.parametrize("modes, shape", [([5], (16,)), ([4, 3], (12, 9)), ([3, 3, 2], (8, 7, 6)), ([2, 3], (4, 4))])
def test_dft_and_fft_backends_agree(modes: list[int], shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    conv = SpectralConv(3, 2, modes).double()
    x = torch.randn(2, 3, *shape, dtype=torch.float64)
    conv.backend = "fft"
    reference = conv(x)
    conv.backend = "dft"
    assert torch.allclose(conv(x), reference, atol=1e-12)


@pytest.mark.parametrize("backend", ["fft", "dft"])
def test_spectrum_zero_outside_kept_modes(backend: str) -> None:
    torch.manual_seed(0)
    conv = SpectralConv(2, 2, [3, 4], backend=backend).double()
    out = conv(torch.randn(1, 2, 16, 16, dtype=torch.float64))
    spectrum = torch.fft.rfft2(out).abs()
    kept = torch.zeros_like(spectrum, dtype=torch.bool)
    kept[..., :3, :4] = True
    kept[..., -3:, :4] = True
    kept[..., 3, 0] = True  # irfft's Hermitian completion of the kx=0 column mirrors mode -m to +m
    assert spectrum[~kept].max() < 1e-12
    assert spectrum[kept].max() > 1e-3


def test_spectral_conv_is_resolution_invariant() -> None:
    """On a band-limited input, the spectral convolution gives the same function at 16 and 32 points/axis."""
    torch.manual_seed(0)
    conv = SpectralConv(1, 1, [3, 3]).double()

    def field(n: int) -> torch.Tensor:
        x = torch.arange(n, dtype=torch.float64) / n
        X, Y = torch.meshgrid(x, x, indexing="ij")
        return (torch.sin(2 * torch.pi * X) * torch.cos(4 * torch.pi * Y) + torch.cos(2 * torch.pi * (X + Y)))[
            None, None
        ]

    coarse, fine = conv(field(16)), conv(field(32))
    assert torch.allclose(fine[..., ::2, ::2], coarse, atol=1e-12)


def test_model_shapes_and_resolution_transfer() -> None:
    torch.manual_seed(0)
    model = specsolve.create("model", "fno", in_channels=2, out_channels=3, modes=[4, 4], width=8, layers=2)
    for n in (16, 33):
        assert model(torch.randn(2, 2, n, n)).shape == (2, 3, n, n)
    model1d = specsolve.create("model", "fno", in_channels=1, out_channels=1, modes=[8], width=8)
    assert model1d(torch.randn(3, 1, 64)).shape == (3, 1, 64)


def test_errors_on_bad_shapes() -> None:
    model = specsolve.create("model", "fno", in_channels=1, out_channels=1, modes=[8, 8], width=4, layers=1)
    with pytest.raises(DataError, match="expects"):
        model(torch.randn(2, 1, 16))
    with pytest.raises(DataError, match="modes"):
        model(torch.randn(2, 1, 10, 10))


def test_autocast_keeps_fft_in_fp32() -> None:
    torch.manual_seed(0)
    model = specsolve.create("model", "fno", in_channels=1, out_channels=1, modes=[4, 4], width=8, layers=2)
    x = torch.randn(2, 1, 16, 16)
    ref = model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(x)
    assert torch.isfinite(low).all()
    assert (low.float() - ref).norm() / ref.norm() < 5e-2
    for layer in model.spectral:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            h = torch.randn(2, 8, 16, 16)
            assert layer(h).dtype == torch.float32


def tiny_model() -> torch.nn.Module:
    torch.manual_seed(1234)
    return specsolve.create("model", "fno", in_channels=1, out_channels=1, modes=[4, 4], width=8, layers=2, padding=2)


def tiny_input() -> torch.Tensor:
    generator = torch.Generator().manual_seed(99)
    return torch.randn(2, 1, 12, 12, generator=generator)


def test_stored_output_regression() -> None:
    # the seeded construction yields the stored weights, and they the stored output (regenerate: --regen-regression)
    model, x = tiny_model(), tiny_input()
    case = {"state_dict": model.state_dict(), "input": x, "output": model(x)}
    assert_matches_stored("fno", case, rtol=1e-5, atol=1e-5, tolerances={"state_dict": (1e-5, 1e-8)})


def test_paper_parameter_counts_with_batch_norm() -> None:
    """The paper's NS table counts (references/operators.md §1.3): width 20, modes 8, 10 input frames, 4 BN layers."""
    fno2d = specsolve.create(
        "model", "fno", in_channels=10, out_channels=1, modes=[8, 8], width=20, batch_norm=True, activation="relu"
    )
    assert n_params(fno2d) == 414_517
    fno3d = specsolve.create("model", "fno", in_channels=10, out_channels=1, modes=[8, 8, 8], width=20, batch_norm=True)
    assert n_params(fno3d) == 6_558_537


def reference_forward(model: torch.nn.Module, x: torch.Tensor, pad: list[int], norms: bool) -> torch.Tensor:
    """The paper-era script's forward written out: grid, fc0, F.pad(pad), (K + W) -> BN -> act, crop, fc1-act-fc2."""
    spatial = x.shape[2:]
    h = torch.cat([x, specsolve.models.fno.grid_features(tuple(spatial), x.shape[0], x)], dim=1)
    h = torch.nn.functional.linear(h.movedim(1, -1), model.lift.weight, model.lift.bias).movedim(-1, 1)
    h = torch.nn.functional.pad(h, pad)
    for i in range(len(model.spectral)):
        lin = model.pointwise[i].linear
        w = torch.nn.functional.linear(h.movedim(1, -1), lin.weight, lin.bias).movedim(-1, 1)
        h = model.spectral[i](h) + w
        if norms:
            h = model.norms[i](h)
        if i < len(model.spectral) - 1:
            h = torch.relu(h)
    h = h[(..., *[slice(0, n) for n in spatial])].movedim(1, -1)
    h = torch.relu(torch.nn.functional.linear(h, model.project_hidden.weight, model.project_hidden.bias))
    return torch.nn.functional.linear(h, model.project_out.weight, model.project_out.bias).movedim(-1, 1)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_after_each_fourier_sum(training: bool) -> None:
    torch.manual_seed(0)
    model = specsolve.create(
        "model",
        "fno",
        in_channels=2,
        out_channels=1,
        modes=[3, 3],
        width=6,
        layers=3,
        batch_norm=True,
        activation="relu",
    ).double()
    for norm in model.norms:  # non-trivial affine and running statistics
        torch.nn.init.normal_(norm.weight, 1.0, 0.3)
        torch.nn.init.normal_(norm.bias, 0.0, 0.3)
        norm.running_mean.normal_(0.0, 0.5)
        norm.running_var.uniform_(0.5, 2.0)
    model.train(training)
    x = torch.randn(3, 2, 10, 10, dtype=torch.float64)
    expected = reference_forward(model, x, [0, 0, 0, 0], norms=True)
    assert torch.allclose(model(x), expected, atol=1e-10)
    assert not torch.allclose(reference_forward(model, x, [0, 0, 0, 0], norms=False), expected, atol=1e-3)


def test_padding_along_chosen_axes_only() -> None:
    """FNO-3D's final script pads time (the last axis) only: ``F.pad(x, [0, 6])``."""
    torch.manual_seed(0)
    kwargs = dict(in_channels=1, out_channels=1, modes=[2, 2, 2], width=4, layers=2, padding=3, activation="relu")
    model = specsolve.create("model", "fno", padding_axes=[2], **kwargs).double()
    x = torch.randn(2, 1, 6, 5, 7, dtype=torch.float64)
    out = model(x)
    assert torch.allclose(out, reference_forward(model, x, [0, 3], norms=False), atol=1e-12)
    assert not torch.allclose(out, reference_forward(model, x, [0, 3, 0, 3, 0, 3], norms=False), atol=1e-6)
    mid = specsolve.create("model", "fno", padding_axes=[0], **kwargs).double()
    mid.load_state_dict(model.state_dict())
    assert torch.allclose(mid(x), reference_forward(model, x, [0, 0, 0, 0, 0, 3], norms=False), atol=1e-12)
    with pytest.raises(ConfigError, match="padding_axes"):
        specsolve.create("model", "fno", padding_axes=[3], **kwargs)


def test_pointwise_normalizer_statistics_checkpoint_and_predict(darcy_tiny, tmp_path) -> None:
    """``data.normalization: pointwise``: mean / unbiased std + 1e-5 over samples per grid point (the Darcy scripts'
    UnitGaussianNormalizer), stored in the checkpoint, applied identically by a module rebuilt from it."""
    from specsolve.training.checkpoint import load_module
    from specsolve.training.module import OperatorModule

    data = specsolve.create(
        "dataset", "hdf5", train=str(darcy_tiny / "train.h5"), inputs=["a"], outputs=["u"], normalization="pointwise"
    )
    stats = data.normalization_statistics()
    xs, ys = zip(*(data.datasets["train"][i] for i in range(len(data.datasets["train"]))))
    for key, fields in (("x", torch.stack(xs).double()), ("y", torch.stack(ys).double())):
        assert stats[f"{key}_mean"].shape == fields.shape[1:]
        assert torch.allclose(stats[f"{key}_mean"].double(), fields.mean(0), rtol=1e-5, atol=1e-6)
        assert torch.allclose(stats[f"{key}_std"].double(), fields.std(0) + 1e-5, rtol=1e-4, atol=1e-6)
    config = {
        "model": {"name": "fno", "in_channels": 1, "out_channels": 1, "modes": [3, 3], "width": 4, "layers": 1},
        "loss": {"name": "rel_l2"},
        "data": {"name": "hdf5", "normalization": "pointwise"},
    }
    torch.manual_seed(0)
    module = OperatorModule(config, 1, 1, stats).eval()
    x = torch.stack(xs[:3])
    encoded = (x - stats["x_mean"]) / stats["x_std"]
    expected = module.model(encoded) * stats["y_std"] + stats["y_mean"]
    assert torch.allclose(module(x), expected, atol=1e-6)
    path = tmp_path / "best.ckpt"
    hp = {"config": config, "in_channels": 1, "out_channels": 1, "layout": {}}
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": hp}, path)
    loaded, _ = load_module(path)
    assert loaded.y_std.shape == stats["y_std"].shape
    assert torch.allclose(loaded(x), expected, atol=1e-6)
    from specsolve.inference.export import NormalisedOperator

    assert torch.allclose(NormalisedOperator(loaded)(x), expected, atol=1e-6)  # the exported map
    with pytest.raises(DataError, match="training grid"):
        loaded(x[..., :9, :9])
    with pytest.raises(ConfigError, match="normalization"):
        specsolve.create(
            "dataset", "hdf5", train=str(darcy_tiny / "train.h5"), inputs=["a"], outputs=["u"], normalization="x"
        )
