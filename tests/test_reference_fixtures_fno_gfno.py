"""FNO and G-FNO against their original codes, through stored fixtures (the codes may not be imported in CI).

- ``tests/fixtures/fno_original_reference.pt``: Zongyi Li's final ``fourier_2d.py`` (Darcy: ``FNO2d``, pad 9) and
  ``fourier_3d.py`` (NS: ``FNO3d``, pad 6 in time), MIT. Regenerate with
  ``python reproductions/fixtures/make_fno_original_fixture.py --reference-checkout PATH`` (a checkout of
  zongyi-li/fourier_neural_operator at 4d3e0c3);
- ``tests/fixtures/gfno{2,3}d_official_reference.pt``: the official ``GFNO2d`` / ``GFNO3d`` (divelab/AIRS
  ``OpenPDE/G-FNO``, GPL-3.0, never copied here), p4 and p4m. Regenerate with
  ``python reproductions/fixtures/make_gfno_official_fixture.py --reference-checkout PATH`` (divelab/AIRS at 4a16c68).

Each case holds the reference's own state dict (small cases; paper-size cases rebuild fixed weights from stored
shapes and scales), its input and its outputs in float64 and float32. The test maps the state dict into specsolve's
model (``reproductions/fixtures/fno_gfno_reference.py``) and requires the same output: relative max difference
<= 1e-12 in float64, <= 1e-5 in float32 (the reference runs in complex64 as published; its float64 run promotes
its hard-coded ``cfloat``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch_threads import single_threaded

import specsolve.models.gfno as gfno_module
import specsolve.models.gfno3d as gfno3d_module
import specsolve.nn.group_conv as group_conv
import specsolve.nn.spectral_conv as spectral_conv
from reproductions.fixtures import fno_gfno_reference as R

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
FNO = torch.load(FIXTURES / "fno_original_reference.pt", weights_only=True)
GFNO = {
    **torch.load(FIXTURES / "gfno2d_official_reference.pt", weights_only=True),
    **torch.load(FIXTURES / "gfno3d_official_reference.pt", weights_only=True),
}
TOL = {torch.float64: 1e-12, torch.float32: 1e-5}
DTYPES = [torch.float64, torch.float32]


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    with single_threaded():
        yield


def inputs(case: dict) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    state, x = R.case_tensors(case)
    if "input_checksum" in case:  # paper-size case: the input is rebuilt, make sure it is the stored one
        torch.testing.assert_close(R.checksum(x), case["input_checksum"], rtol=1e-12, atol=0)
    return state, x


def loaded_output(
    model: torch.nn.Module,
    state: dict[str, torch.Tensor],
    x: torch.Tensor,
    dtype: torch.dtype,
    forward: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """``forward(model, x)`` (reference layouts) in ``dtype``, the model holding the mapped reference ``state``."""
    model.load_state_dict(state, strict=True)
    model.to(dtype).eval()
    with torch.no_grad():
        return forward(model, x.to(dtype))


def fno_output(name: str, dtype: torch.dtype) -> torch.Tensor:
    settings = R.FNO_CASES[name]
    state, x = inputs(FNO[name])
    model = R.build_fno(settings)
    return loaded_output(model, R.fno_state_from_original(state, settings["modes"]), x, dtype, R.fno_forward)


def gfno_output(name: str, dtype: torch.dtype) -> torch.Tensor:
    settings = R.GFNO_CASES[name]
    state, x = inputs(GFNO[name])
    model = R.build_gfno(settings)
    return loaded_output(model, R.gfno_state_from_official(state, settings["dim"]), x, dtype, R.gfno_forward)


def reference(case: dict, dtype: torch.dtype) -> torch.Tensor:
    return case["reference_fp64" if dtype == torch.float64 else "reference_fp32"]


def assert_matches_reference(got: torch.Tensor, case: dict, dtype: torch.dtype) -> None:
    """``got`` has the shape of the case's reference output in ``dtype`` and lies within ``TOL[dtype]`` of it."""
    expected = reference(case, dtype)
    assert got.shape == expected.shape and got.dtype == expected.dtype == dtype
    assert R.relative_difference(got, expected) <= TOL[dtype]


def test_fixtures_hold_every_case_and_are_small() -> None:
    assert set(FNO) == set(R.FNO_CASES) and set(GFNO) == set(R.GFNO_CASES)
    for path in FIXTURES.glob("*_reference.pt"):
        if path.name.startswith(("fno_original", "gfno")):
            assert path.stat().st_size < 350_000, path


@pytest.mark.parametrize("dtype", DTYPES, ids=["fp64", "fp32"])
@pytest.mark.parametrize("name", list(R.FNO_CASES))
def test_fno_matches_the_original_code(name: str, dtype: torch.dtype) -> None:
    assert_matches_reference(fno_output(name, dtype), FNO[name], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["fp64", "fp32"])
@pytest.mark.parametrize("name", list(R.GFNO_CASES))
def test_gfno_matches_the_official_code(name: str, dtype: torch.dtype) -> None:
    assert_matches_reference(gfno_output(name, dtype), GFNO[name], dtype)


@pytest.fixture
def fresh_dft_matrices():
    """The truncated-DFT matrices are cached: build them anew under a mutation, and drop the mutated ones after."""
    spectral_conv.dft_matrix.cache_clear()
    yield
    spectral_conv.dft_matrix.cache_clear()


@pytest.mark.parametrize("name", ["fno2d_tiny", "fno3d_tiny"])
def test_fno_fixture_catches_a_wrong_mode_truncation(name: str, monkeypatch, fresh_dft_matrices) -> None:
    """Negative rows kept one frequency off (``-m-1..-2`` instead of ``-m..-1``): the fixture must see it."""
    original = spectral_conv.kept_frequencies

    def shifted(n, m, last):
        freqs = original(n, m, last)
        return freqs if last else torch.cat([freqs[:m], freqs[m:] - 1])

    monkeypatch.setattr(spectral_conv, "kept_frequencies", shifted)
    assert R.relative_difference(fno_output(name, torch.float64), FNO[name]["reference_fp64"]) > 1e-4


@pytest.mark.parametrize("name", ["gfno2d_p4_tiny", "gfno2d_p4m_tiny"])
def test_gfno_fixture_catches_a_kernel_without_its_group_transform(name: str, monkeypatch) -> None:
    """Copies of the spectral kernel not rotated/reflected by ``T_g`` (the input permutation kept): must fail."""
    monkeypatch.setattr(gfno_module, "transform", lambda t, g, dims: t)
    assert R.relative_difference(gfno_output(name, torch.float64), GFNO[name]["reference_fp64"]) > 1e-4


@pytest.mark.parametrize("name", ["gfno2d_p4_tiny", "gfno2d_p4m_tiny", "gfno3d_p4m_tiny"])
def test_gfno_fixture_catches_a_wrong_group_permutation(name: str, monkeypatch) -> None:
    """``K[o, i, g h]`` instead of ``K[o, i, g^-1 h]`` in every group convolution (they differ for the rotations
    by 90 and 270 degrees, also in the abelian p4)."""

    def wrong(group: str) -> torch.Tensor:
        return torch.tensor(group_conv.group_tables(group)[0], dtype=torch.long)

    for module in (group_conv, gfno_module, gfno3d_module):
        monkeypatch.setattr(module, "input_permutation", wrong)
    assert R.relative_difference(gfno_output(name, torch.float64), GFNO[name]["reference_fp64"]) > 1e-4
