"""ST-FNO against the Spectral-Refiner reference ``SFNO`` (scaomath/torch-cfd ``fno/sfno.py``, MIT): weight mapping,
the compared configurations, and the generator of the stored fixture ``tests/data/st_fno_reference.pt``.

The reference model lives in the ``fno/`` folder of the torch-cfd repository, which the ``torch-cfd`` wheel (0.2.6,
the ``reference`` extra) does not ship; ``fno/sfno.py`` imports ``torch_cfd.spectral`` from the wheel and ``einops``.
So the comparison has two routes:

- the stored fixture (always tested): our weights (our names; float32 values, run in float64 too), inputs, and the reference's float64 and
  float32 outputs for the small cases in ``FIXTURE_CASES``; regenerate with
  ``python tests/st_fno_reference.py --torch-cfd /path/to/torch-cfd`` (a checkout of scaomath/torch-cfd, tested at
  475c738, plus ``pip install -e .[reference]``). Only tensors are stored, no reference code;
- live (``SPECSOLVE_TORCH_CFD=/path/to/torch-cfd pytest tests/test_reference_equivalence_st_fno.py``): the same cases
  and the paper's configuration (modes 12, modes_t 5, width 20, 4 spectral layers, 64x64, 10 -> 40 steps), built
  fresh against the checkout.

Conventions bridged here: the reference takes and returns ``(B, X, Y, T)`` scalar fields (ours ``(B, T, 1, X, Y)``);
its spectral bias is one tensor ``(m, m, m_t, 2)`` per group shared by the output components (ours per component,
``(C, m, m, m_t, 2)``; C = 1 here); it builds its positional encoding with the default dtype (float32), so its
float64 runs set the default dtype to float64.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from pathlib import Path

import torch

from specsolve.models.st_fno import STFNO

FIXTURE = Path(__file__).parent / "data" / "st_fno_reference.pt"
ENV = "SPECSOLVE_TORCH_CFD"

# name -> (our constructor kwargs, (B, T_in, X, Y), out_steps)
FIXTURE_CASES: dict[str, tuple[dict, tuple[int, int, int, int], int]] = {
    "tiny": (
        dict(modes=4, modes_t=2, width=6, latent_steps=3, out_steps=5, num_spectral_layers=3, beta=0.01),
        (2, 5, 16, 16),
        5,
    ),
    "tiny_gelu_resampled": (
        dict(modes=3, modes_t=3, width=6, latent_steps=4, num_spectral_layers=2, beta=-0.01, activation="gelu"),
        (2, 6, 16, 12),
        9,
    ),
    "small_32": (
        dict(modes=5, modes_t=2, width=4, latent_steps=6, num_spectral_layers=4, beta=0.02),
        (1, 8, 32, 32),
        8,
    ),
}
PAPER_CASES = {
    "paper_m12_mt5_w20": (
        dict(modes=12, modes_t=5, width=20, latent_steps=10, num_spectral_layers=4, beta=0.01),
        (1, 10, 64, 64),
        40,
    ),
}


def reference_sfno_class(checkout: str | os.PathLike):
    """``SFNO`` from ``<checkout>/fno/sfno.py`` (needs the torch-cfd wheel for ``torch_cfd.spectral``)."""
    root = str(Path(checkout).resolve())
    if not (Path(root) / "fno" / "sfno.py").is_file():
        raise FileNotFoundError(f"{root} is not a torch-cfd checkout (no fno/sfno.py)")
    if root not in sys.path:
        sys.path.insert(0, root)
    from fno.sfno import SFNO  # noqa: PLC0415

    return SFNO


def build_ours(config: dict, seed: int = 0) -> STFNO:
    """Our model with every weight off its init, the spectral bias (zero-init) included, in float64."""
    torch.manual_seed(seed)
    model = STFNO(1, 1, **config).double()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("output_conv.bias"):
                p.copy_(torch.randn_like(p) * 5.0)  # a bias that carries a visible share of the output
            else:
                p.add_(0.1 * torch.randn_like(p) * (p.abs().mean() + 0.05))
    return model


def build_reference(sfno_class, config: dict):
    return sfno_class(
        config["modes"],
        config["modes"],
        config["modes_t"],
        config["width"],
        beta=config.get("beta", 0.01),
        delta=0.1,
        num_spectral_layers=config.get("num_spectral_layers", 4),
        activation={"relu": "ReLU", "gelu": "GELU"}[config.get("activation", "relu")],
        latent_steps=config.get("latent_steps", 10),
    )


RULES = [
    (r"^norm\.", "lifting_operator.norm."),
    (r"^lift\.", "lifting_operator.proj."),
    (r"^lift_conv\.", "lifting_operator.sconv."),
    (r"^lift_ffn\.", "lifting_operator.mlp."),
    (r"^spectral_convs\.", "spectral_conv."),
    (r"^ffns\.", "mlp."),
    (r"^pointwise\.", "w."),
    (r"^output_conv\.", "output_operator.conv."),
]


def to_reference_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our ST-FNO state dict (one component) in the reference's names and shapes."""
    out = {}
    for name, value in state.items():
        if re.match(r"^output_conv\.bias\.\d$", name):
            value = value[0]  # (C=1, m, m, m_t, 2) -> the reference's shared (m, m, m_t, 2)
        for pattern, repl in RULES:
            name = re.sub(pattern, repl, name)
        out[name] = value
    return out


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def reference_output(sfno_class, config: dict, state: dict, x: torch.Tensor, out_steps: int) -> torch.Tensor:
    """The reference's prediction in our layout: ``x (B, T_in, 1, X, Y) -> (B, out_steps, 1, X, Y)``."""
    dtype = x.dtype
    with default_dtype(dtype), torch.no_grad():
        ref = build_reference(sfno_class, config).to(dtype).eval()
        ref.load_state_dict({k: v.to(dtype) for k, v in to_reference_state(state).items()}, strict=True)
        out = ref(x[:, :, 0].permute(0, 2, 3, 1), out_steps=out_steps)  # (B, X, Y, out_steps)
    return out.permute(0, 3, 1, 2).unsqueeze(2)


def make_input(shape: tuple[int, int, int, int], seed: int = 1) -> torch.Tensor:
    batch, steps, nx, ny = shape
    torch.manual_seed(seed)
    return torch.randn(batch, steps, 1, nx, ny, dtype=torch.float64)


def generate(checkout: str) -> None:
    sfno_class = reference_sfno_class(checkout)
    cases = {}
    for name, (config, shape, out_steps) in FIXTURE_CASES.items():
        model = build_ours(config)
        # weights and inputs rounded to float32 values (stored as float32, half the size); the float64 comparison
        # runs on exactly these numbers in float64
        state = {k: v.detach().float().double() for k, v in model.state_dict().items()}
        x = make_input(shape).float().double()
        cases[name] = {
            "state_dict": {k: v.float() for k, v in state.items()},
            "input": x.float(),
            "out_steps": torch.tensor(out_steps),
            "reference_fp64": reference_output(sfno_class, config, state, x, out_steps),
            "reference_fp32": reference_output(
                sfno_class, config, {k: v.float() for k, v in state.items()}, x.float(), out_steps
            ),
        }
        print(f"{name}: output scale {cases[name]['reference_fp64'].abs().max().item():.3g}")
    FIXTURE.parent.mkdir(exist_ok=True)
    torch.save(cases, FIXTURE)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--torch-cfd", default=os.environ.get(ENV), help=f"torch-cfd checkout (or ${ENV})")
    args = parser.parse_args()
    if not args.torch_cfd:
        parser.error(f"pass --torch-cfd PATH or set {ENV}")
    generate(args.torch_cfd)
