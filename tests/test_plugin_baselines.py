"""The example plugin plugins/specsolve-baselines, imported from its source tree (no install needed).

Its components (U-Net, DeepONet, relative L1 loss) and its entry points as declared in its pyproject.toml,
loaded lazily through a fresh registry. tests/test_plugin_install.py does the real pip install.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import tomllib
import torch
import torch.nn.functional as F
from plugin_source import plugin_source_fixture
from regression import assert_matches_stored

import specsolve
from specsolve.errors import ConfigError
from specsolve.registry import KINDS, REGISTRY, Registry

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "plugins" / "specsolve-baselines"


plugin_source_on_path = plugin_source_fixture(PLUGIN)  # ``specsolve_baselines`` importable from its src folder


def unet_cls():
    from specsolve_baselines.unet2d import UNet2d

    return UNet2d


def deeponet_cls():
    from specsolve_baselines.deeponet import DeepONet

    return DeepONet


# -- U-Net -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(17, 17), (13, 21), (16, 16), (5, 3)])
def test_unet_any_grid_size(shape: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = unet_cls()(in_channels=2, out_channels=3, base_width=4, depth=3).eval()
    x = torch.randn(2, 2, *shape)
    y = model(x)
    assert y.shape == (2, 3, *shape)
    # the output is the model on the explicitly padded grid, cropped back to the top-left H x W block
    padded = F.pad(x, (0, (-shape[1]) % 8, 0, (-shape[0]) % 8), mode="replicate")
    assert torch.allclose(y, model(padded)[..., : shape[0], : shape[1]], atol=1e-6)


def test_unet_parameter_count() -> None:
    """Count from the architecture: double convs (3x3, GroupNorm affine), 2x2 transposed convs, 1x1 head."""

    def double_conv(cin: int, cout: int) -> int:
        return (9 * cin * cout + cout + 2 * cout) + (9 * cout * cout + cout + 2 * cout)

    cin, cout, w, depth = 3, 2, 4, 2
    widths = [w * 2**level for level in range(depth + 1)]  # 4, 8, 16
    expected = double_conv(cin, widths[0]) + sum(double_conv(widths[l - 1], widths[l]) for l in range(1, depth + 1))
    for level in range(depth, 0, -1):
        expected += 4 * widths[level] * widths[level - 1] + widths[level - 1]  # transposed conv
        expected += double_conv(2 * widths[level - 1], widths[level - 1])
    expected += widths[0] * cout + cout
    model = unet_cls()(in_channels=cin, out_channels=cout, base_width=w, depth=depth)
    assert sum(p.numel() for p in model.parameters()) == expected == 7_634


def test_unet_group_norm_is_per_sample_and_float64_works() -> None:
    torch.manual_seed(0)
    model = unet_cls()(in_channels=1, out_channels=1, base_width=4, depth=2).train()
    x = torch.randn(3, 1, 12, 12)
    assert torch.allclose(model(x)[:1], model(x[:1]), atol=1e-6)  # no batch statistics leak between samples
    y = model.double()(x.double())
    assert y.dtype == torch.float64
    y.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def regression_case(cls: type, config: dict[str, Any], shape: tuple[int, ...]) -> dict[str, Any]:
    """The stored-output case of a baseline model: seed 0 right before construction, input from seed 1."""
    torch.manual_seed(0)
    model = cls(**config).eval()
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return {"config": config, "seed": 0, "input": x, "output": model(x)}


def test_unet_regression() -> None:
    config = dict(in_channels=2, out_channels=1, base_width=4, depth=2)
    case = regression_case(unet_cls(), config, (2, 2, 13, 10))  # an odd grid exercises pad / crop
    assert_matches_stored("unet2d", case, rtol=1e-5, atol=1e-5, tolerances={"input": (0.0, 0.0)})


# -- DeepONet --------------------------------------------------------------------------------------------
def test_deeponet_output_is_branch_times_trunk_at_grid_coordinates() -> None:
    """``u_c(y) = sum_k b_ck t_ck(y) + bias_c`` with y = (i/(H-1), j/(W-1)) at output index (i, j)."""
    torch.manual_seed(0)
    model = deeponet_cls()(in_channels=2, out_channels=3, sensors=6, basis=5, width=16)
    with torch.no_grad():
        model.bias.copy_(torch.tensor([0.5, -1.0, 2.0]))
        x = torch.randn(2, 2, 9, 7)
        y = model(x)
        coeffs = model.branch(model.sensor_values(x)).view(2, 3, 5)
        for i, j in [(0, 0), (8, 6), (3, 5), (7, 1)]:
            t = model.trunk(torch.tensor([[i / 8, j / 6]])).view(3, 5)
            assert torch.allclose(y[:, :, i, j], (coeffs * t).sum(-1) + model.bias, atol=1e-6)


def test_deeponet_resolution_consistency_on_linear_fields() -> None:
    """Linear interpolation to the sensors is exact on a linear field, so a 33-point grid and its stride-2
    17-point subgrid give the same predictions on the common points."""
    torch.manual_seed(0)
    model = deeponet_cls()(in_channels=1, out_channels=1, sensors=8).eval()

    def field(n: int) -> torch.Tensor:
        s = torch.linspace(0, 1, n)
        return (0.3 + s[:, None] - 2 * s[None, :])[None, None]

    with torch.no_grad():
        fine, coarse = model(field(33)), model(field(17))
    assert torch.allclose(fine[..., ::2, ::2], coarse, atol=1e-5)
    model_1d = deeponet_cls()(in_channels=1, out_channels=2, ndim=1, sensors=4).double()
    assert model_1d(torch.randn(3, 1, 10, dtype=torch.float64)).shape == (3, 2, 10)


def test_deeponet_regression() -> None:
    config = dict(in_channels=1, out_channels=2, sensors=5, basis=6, width=8)
    case = regression_case(deeponet_cls(), config, (2, 1, 9, 7))  # an odd grid exercises the interpolation
    assert_matches_stored("deeponet", case, rtol=1e-5, atol=1e-5, tolerances={"input": (0.0, 0.0)})


# -- relative L1 -----------------------------------------------------------------------------------------
def test_rel_l1_values() -> None:
    from specsolve_baselines.rel_l1 import RelativeL1Loss

    loss = RelativeL1Loss()
    target = torch.stack([torch.full((1, 4, 4), 2.0), torch.linspace(-1, 1, 16).view(1, 4, 4)])
    pred = target.clone()
    pred[0] *= 1.1  # relative error 0.1
    pred[1] = target[1] + 0.3 * target[1].abs()  # relative error 0.3
    assert torch.isclose(loss(pred, target), torch.tensor(0.2), atol=1e-6)  # per-sample ratio, then mean
    assert torch.isclose(loss(torch.zeros_like(target), target), torch.tensor(1.0))
    with pytest.raises(ValueError, match="needs a target"):
        loss(pred)


# -- entry points as declared in the plugin's pyproject.toml ------------------------------------------------
class _Dist:
    name = "specsolve-baselines"


class _EntryPoint:
    """An installed entry point, minus the install: the real ``metadata.EntryPoint.load`` plus a ``dist``."""

    dist = _Dist()

    def __init__(self, name: str, value: str, group: str, loads: list[str]) -> None:
        self.name, self.value, self.group, self._loads = name, value, group, loads

    def load(self) -> Any:
        self._loads.append(self.name)
        return metadata.EntryPoint(self.name, self.value, self.group).load()


@pytest.fixture
def plugin_registry(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A fresh global registry whose entry points are the plugin's declared ones; returns the load log."""
    declared = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]["entry-points"]
    loads: list[str] = []
    real = metadata.entry_points

    def entry_points(group: str | None = None, **kwargs: Any):
        if group is not None and group.startswith("specsolve."):
            return [_EntryPoint(n, v, group, loads) for n, v in declared.get(group, {}).items()]
        return real(group=group, **kwargs) if group else real(**kwargs)

    # import the built-ins into the real registry first: modules register once, on their first import, and
    # must not register into the throwaway registry instead of the global one
    REGISTRY.ensure_loaded()
    monkeypatch.setattr(metadata, "entry_points", entry_points)
    monkeypatch.setattr("specsolve.registry.REGISTRY", Registry())
    return loads


def test_declared_groups_are_documented_groups() -> None:
    documented = {
        "specsolve.models",
        "specsolve.solvers",
        "specsolve.losses",
        "specsolve.metrics",
        "specsolve.datasets",
        "specsolve.generators",
        "specsolve.optimizers",
        "specsolve.schedulers",
        "specsolve.pdes",
        "specsolve.problems",
        "specsolve.readers",
    }
    declared = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]["entry-points"]
    assert set(declared) == {"specsolve.models", "specsolve.losses"} and set(declared) <= documented
    assert len(documented) == len(KINDS)


def test_plugin_models_load_lazily_through_entry_points(plugin_registry: list[str]) -> None:
    models = {c.name: c for c in specsolve.list_components("model")}
    assert models["unet2d"].distribution == "specsolve-baselines" and models["unet2d"].obj is None
    assert plugin_registry == []  # listed, not imported
    model = specsolve.create("model", "unet2d", in_channels=1, out_channels=2, base_width=4, depth=2)
    assert plugin_registry == ["unet2d"] and type(model).__name__ == "UNet2d"
    assert model(torch.randn(1, 1, 11, 9)).shape == (1, 2, 11, 9)
    with pytest.raises(ConfigError, match="unknown key 'widht'"):
        specsolve.create("model", "deeponet", in_channels=1, out_channels=1, widht=8)
    with pytest.raises(ConfigError, match="key 'depth' expects int"):
        specsolve.create("model", "unet2d", in_channels=1, out_channels=1, depth=2.5)
    with pytest.raises(ConfigError, match="depth must be >= 1"):
        specsolve.create("model", "unet2d", in_channels=1, out_channels=1, depth=0)
    assert specsolve.create("model", "deeponet", in_channels=1, out_channels=1, sensors=4)(
        torch.zeros(2, 1, 9, 9)
    ).shape == (2, 1, 9, 9)


def test_plugin_loss_loads_through_entry_points(plugin_registry: list[str]) -> None:
    loss = specsolve.create("loss", "rel_l1")
    assert plugin_registry == ["rel_l1"]
    target = torch.ones(2, 1, 4)
    assert torch.isclose(loss(2 * target, target), torch.tensor(1.0))
