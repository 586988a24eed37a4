"""Figures are drawn in the files' physical coordinates: image extents span the coordinate values (not the grid
index 0..n-1) and the axes are labelled with the coordinates' ``long_name`` and ``units``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from specsolve.data.native import NativeWriter, VariableSpec
from specsolve.inference import plots

PLANE = {
    "x": {"long_name": "distance east", "units": "km"},
    "y": {"long_name": "distance north", "units": "km"},
    "time": {"long_name": "time", "units": "s"},
}
SPHERE = {
    "x": {"long_name": "latitude", "units": "degrees_north", "standard_name": "latitude"},
    "y": {"long_name": "longitude", "units": "degrees_east", "standard_name": "longitude"},
    "time": PLANE["time"],
}


def _write(
    path: Path, u: np.ndarray, dims: tuple[str, ...], coords: dict[str, np.ndarray], attrs: dict = PLANE
) -> Path:
    with NativeWriter(
        path,
        {"sample": np.arange(u.shape[0]), **coords},
        {"u": VariableSpec(dims, attrs={"long_name": "height", "units": "m"})},
        coord_attrs={d: attrs[d] for d in coords},
    ) as w:
        w.write("u", 0, u)
    return path


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list:
    """The figures the plotting functions draw (kept open instead of closed by ``save_figure``)."""
    drawn: list = []

    def keep(fig, out):
        drawn.append(fig)
        return Path(out)

    monkeypatch.setattr(plots, "save_figure", keep)
    yield drawn
    for fig in drawn:
        plots.pyplot().close(fig)


def test_sample_images_use_coordinates_and_units(tmp_path: Path, figures: list) -> None:
    x = np.linspace(2.0, 5.0, 13)  # spacing 0.25 km
    y = np.linspace(-1.0, 1.0, 9)  # spacing 0.25 km
    u = np.random.default_rng(0).standard_normal((2, 13, 9))
    ref = _write(tmp_path / "ref.h5", u, ("sample", "x", "y"), {"x": x, "y": y})
    pred = _write(tmp_path / "pred.h5", u + 0.01, ("sample", "x", "y"), {"x": x, "y": y})
    plots.plot_samples(pred, ref, tmp_path / "s.png", [0, 1])
    (fig,) = figures
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 6  # truth, prediction, |error| for two samples
    for ax in images:
        assert ax.get_xlim() == pytest.approx((2.0 - 0.125, 5.0 + 0.125))
        assert ax.get_ylim() == pytest.approx((-1.0 - 0.125, 1.0 + 0.125))
        assert ax.get_xlabel() == "distance east [km]" and ax.get_ylabel() == "distance north [km]"
    colorbars = [ax.get_ylabel() for ax in fig.axes if not ax.images]
    assert "height [m]" in colorbars


def test_latitude_is_drawn_vertically_north_up(tmp_path: Path, figures: list) -> None:
    """A (lat, lon) grid, latitude stored from 90 to -90: longitude runs left to right, latitude upwards, and the
    northernmost row of the field is the top row of the image."""
    lat, lon = np.linspace(90.0, -90.0, 7), np.arange(12) * 30.0
    u = np.zeros((1, 7, 12))
    u[0, 0] = 1.0  # the north pole row
    for name in ("ref", "pred"):
        _write(tmp_path / f"{name}.h5", u, ("sample", "x", "y"), {"x": lat, "y": lon}, SPHERE)
    plots.plot_samples(tmp_path / "pred.h5", tmp_path / "ref.h5", tmp_path / "s.png", [0])
    truth = next(ax for ax in figures[0].axes if ax.images)
    assert truth.get_xlabel() == "longitude [degrees_east]" and truth.get_ylabel() == "latitude [degrees_north]"
    assert truth.get_xlim() == pytest.approx((-15.0, 345.0)) and truth.get_ylim() == pytest.approx((-105.0, 105.0))
    image = truth.images[0]
    rows = np.asarray(image.get_array())
    assert rows.shape == (7, 12) and np.all(rows[0] == 1.0)  # image rows are latitudes, row 0 the pole row
    # origin "lower": row 0 is placed at extent[2], the +90 edge, which is the top of the ascending y axis
    assert image.origin == "lower" and image.get_extent()[2] == pytest.approx(105.0)


def test_time_strip_and_1d_lines_use_coordinates(tmp_path: Path, figures: list) -> None:
    x = np.linspace(10.0, 20.0, 11)
    t = np.array([0.0, 0.5, 1.0, 1.5])
    u = np.random.default_rng(1).standard_normal((1, 4, 11))
    ref = _write(tmp_path / "ref1.h5", u, ("sample", "time", "x"), {"time": t, "x": x})
    plots.plot_time_strip(ref, ref, tmp_path / "strip.png")
    for ax in (a for a in figures[-1].axes if a.images):
        assert ax.get_xlim() == pytest.approx((9.5, 20.5))
        assert ax.get_ylim() == pytest.approx((-0.25, 1.75))
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("distance east [km]", "time [s]")
    # 1D samples: the lines are drawn against x
    line_ref = _write(tmp_path / "line.h5", u[:, -1], ("sample", "x"), {"x": x})
    plots.plot_samples(line_ref, line_ref, tmp_path / "line.png", [0])
    ax = figures[-1].axes[0]
    assert np.array_equal(ax.lines[0].get_xdata(), x)
    assert ax.get_xlabel() == "distance east [km]" and ax.get_ylabel() == "height [m]"


def test_2d_time_strip_panels_span_the_grid(tmp_path: Path, figures: list) -> None:
    x = np.arange(8) / 8 * 2 * np.pi  # periodic, endpoint excluded
    u = np.random.default_rng(2).standard_normal((1, 3, 8, 8))
    ref = _write(tmp_path / "ref2.h5", u, ("sample", "time", "x", "y"), {"time": np.arange(3.0), "x": x, "y": x})
    plots.plot_time_strip(ref, ref, tmp_path / "strip2.png")
    dx = 2 * np.pi / 8
    for ax in (a for a in figures[-1].axes if a.images):
        assert ax.get_xlim() == pytest.approx((-dx / 2, 2 * np.pi - dx / 2))
    assert figures[-1].axes[-1].get_xlabel() == "distance east [km]"
