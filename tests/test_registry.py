"""Registry: registration, lookup errors, signature validation, entry-point plugins."""

from __future__ import annotations

from importlib import metadata
from typing import Literal

import pytest

import specsolve
from specsolve.errors import ConfigError, RegistryError
from specsolve.registry import REGISTRY, Registry, register
from specsolve.registry.signature import validate_params


def test_builtins_registered() -> None:
    names = {(c.kind, c.name) for c in specsolve.list_components()}
    for entry in [
        ("model", "fno"),
        ("loss", "rel_l2"),
        ("metric", "rel_l2"),
        ("dataset", "hdf5"),
        ("generator", "darcy"),
        ("generator", "burgers"),
        ("optimizer", "adam"),
        ("scheduler", "step"),
    ]:
        assert entry in names


def test_create_validates_before_building() -> None:
    model = specsolve.create("model", "fno", in_channels=1, out_channels=1, modes=[4, 4], width=8)
    assert sum(p.numel() for p in model.parameters()) > 0
    with pytest.raises(ConfigError, match="unknown key 'widht'.*did you mean 'width'"):
        specsolve.create("model", "fno", in_channels=1, out_channels=1, modes=[4, 4], widht=8)
    with pytest.raises(ConfigError, match="key 'width' expects int"):
        specsolve.create("model", "fno", in_channels=1, out_channels=1, modes=[4, 4], width="8")
    with pytest.raises(ConfigError, match="missing required key.*modes"):
        specsolve.create("model", "fno", in_channels=1, out_channels=1)
    with pytest.raises(ConfigError, match="activation"):
        specsolve.create("model", "fno", in_channels=1, out_channels=1, modes=[4], activation="tanh")


def test_unknown_name_lists_close_matches_and_all() -> None:
    with pytest.raises(RegistryError) as info:
        specsolve.get("model", "fnoo")
    message = str(info.value)
    assert "did you mean 'fno'" in message and "available:" in message and "galerkin_transformer" in message
    with pytest.raises(RegistryError, match="unknown component kind"):
        specsolve.get("modle", "fno")


def test_duplicate_name_is_an_error() -> None:
    registry = Registry()
    registry._builtins_loaded = registry._entry_points_loaded = True

    class A:
        pass

    class B:
        pass

    registry.add("model", "dup", A)
    registry.add("model", "dup", A)  # the same object again is harmless
    with pytest.raises(RegistryError, match="duplicate model name 'dup'"):
        registry.add("model", "dup", B)
    with pytest.raises(RegistryError, match="duplicate"):
        register("model", "fno")(B)


def test_validation_types() -> None:
    def factory(
        a: int,
        b: float = 1.0,
        c: list[int] | None = None,
        d: tuple[int, int] = (1, 2),
        e: Literal["x", "y"] = "x",
        f: bool = False,
    ) -> None:
        return None

    out = validate_params(factory, {"a": 1, "b": 2, "c": [1, 2], "d": [3, 4], "e": "y", "f": True}, where="f")
    assert out["d"] == (3, 4) and out["b"] == 2
    for bad in (
        {"a": 1.5},
        {"a": True},
        {"a": 1, "c": [1.5]},
        {"a": 1, "d": [1]},
        {"a": 1, "e": "z"},
        {"a": 1, "f": 1},
    ):
        with pytest.raises(ConfigError):
            validate_params(factory, bad, where="f")


class _FakeDist:
    name = "fake-plugin"


def test_entry_point_plugins_are_lazy(monkeypatch: pytest.MonkeyPatch) -> None:
    loads = []

    class FakeEntryPoint:
        name = "fake_model"
        value = "fake_module:FakeModel"
        group = "specsolve.models"
        dist = _FakeDist()

        def load(self):
            loads.append(1)

            def fake_model(in_channels: int, out_channels: int, scale: float = 2.0) -> tuple:
                """A fake plugin model."""
                return (in_channels, out_channels, scale)

            return fake_model

    real = metadata.entry_points

    def fake_entry_points(group: str | None = None, **kwargs):
        if group == "specsolve.models":
            return [FakeEntryPoint()]
        return real(group=group, **kwargs) if group else real(**kwargs)

    monkeypatch.setattr(metadata, "entry_points", fake_entry_points)
    registry = Registry()
    monkeypatch.setattr("specsolve.registry.REGISTRY", registry)
    components = {c.name: c for c in registry.components("model")}
    assert components["fake_model"].distribution == "fake-plugin"
    assert not loads, "entry points must load lazily"
    assert specsolve.create("model", "fake_model", in_channels=1, out_channels=2) == (1, 2, 2.0)
    assert loads == [1]
    with pytest.raises(ConfigError, match="unknown key 'scal'"):
        specsolve.create("model", "fake_model", in_channels=1, out_channels=2, scal=3.0)


def test_global_registry_is_populated() -> None:
    assert REGISTRY.components("generator")


def test_renamed_component_names_its_successor() -> None:
    """``sfno`` meant the Spectral-Refiner ST-FNO; the name now says so, and the old one points there."""
    assert specsolve.is_registered("model", "st_fno")
    with pytest.raises(RegistryError, match="renamed to 'st_fno'.*spherical FNO"):
        specsolve.get("model", "sfno")
    with pytest.raises(RegistryError, match="renamed to 'st_fno'"):
        specsolve.create("model", "sfno", in_channels=1, out_channels=1)


def test_building_blocks_are_public() -> None:
    """A plugin author builds on ``specsolve.nn`` / ``specsolve.gp`` without touching an underscore module."""
    import torch

    from specsolve.models.fno import FNO
    from specsolve.nn import SpectralConv

    fno = FNO(1, 1, modes=[4, 4], width=8)
    assert any(isinstance(m, SpectralConv) for m in fno.modules())
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    y = torch.fft.rfft2(SpectralConv(3, 3, modes=[4, 4]).double()(x)).abs()
    # kept: frequencies 0..3 and -4..-1 on the first axis (+4 only as the Hermitian image of -4 at k_y = 0), 0..3 on
    # the rfft axis; everything else is zero
    assert y[..., :4, :4].min() > 1e-6 and y[..., 5:12, :].max() < 1e-12 and y[..., 4:].max() < 1e-12
