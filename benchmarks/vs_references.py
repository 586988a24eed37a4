"""specsolve against each model's reference implementation, side by side at the paper configuration (CPU).

Usage::

    OMP_NUM_THREADS=1 python -m benchmarks.vs_references [--models fno,st_fno,galerkin,gfno,scot] [--rounds 5]
        [--threads 1] [--torch-cfd-checkout DIR] [--gfno-checkout DIR] [--poseidon-checkout DIR]
        [--reference-site DIR] [--batch MODEL=N ...] [--out FILE]

Per model, both implementations are built at the same configuration with the same weights (ours copied into the
reference, or the reference's into ours, through the mappings of the reference-equivalence tests), the outputs are
compared once (``same function``: max |ours - ref| / max |ref|, float32), and then timed in the same process with
the same thread count in interleaved rounds (:func:`benchmarks.harness.interleaved`):

- train step: forward + the same relative-L2 loss + backward + an Adam step (train mode): specsolve's registered
  ``adam`` optimizer (what ``specsolve train`` builds: torch's fused kernel for real parameters) against the
  reference codes' ``torch.optim.Adam`` (their training scripts' default, torch's per-tensor loop on CPU);
- inference: ``torch.no_grad`` forward in eval mode.

The printed ratio is specsolve speed / reference speed = reference median time / specsolve median time (> 1:
specsolve faster), with the median of the per-round ratios beside it (robust to load drifting between rounds).

Models and references (none of the reference code is in this repository; each is imported at run time):

- ``fno``: FNO-2D, Darcy 85^2 (+9 padding), modes 12, width 32 vs neuraloperator 2.0.0 (an installed package;
  the model builder and weight map of :mod:`benchmarks.fno_vs_neuralop`);
- ``st_fno``: Spectral-Refiner ST-FNO, NS 64^2, 10 -> 40 steps, modes 12 / 5, width 20 (configs/ns2d_st_fno.yaml)
  vs ``SFNO`` of torch-cfd's ``fno/sfno.py``: the torch-cfd wheel does not ship that folder, so it needs
  ``--torch-cfd-checkout`` (a scaomath/torch-cfd checkout, MIT; weight map: tests/st_fno_reference.py);
- ``galerkin``: Galerkin Transformer, Burgers n = 2048 (configs/galerkin_burgers_2048.yaml, 530,305 parameters) vs
  galerkin-transformer 0.2.1's ``SimpleTransformer`` (an installed package; weight map:
  tests/test_reference_equivalence_galerkin.py);
- ``gfno``: G-FNO p4, NS-2D 64^2, 10 -> 1, modes 12, width 10 (configs/ns2d_gfno_p4.yaml) vs the official
  ``GFNO2d`` (divelab/AIRS ``OpenPDE/G-FNO``, GPL-3.0): only with ``--gfno-checkout``;
- ``scot``: scOT-T at 128^2 (Poseidon-T sizes, 1 -> 1 channels, time-conditioned) vs Poseidon's ``scOT.model.ScOT``
  (camlab-ethz/poseidon, no licence): only with ``--poseidon-checkout``; it needs ``transformers`` (4.46.3 is what
  the fixtures were made with), e.g. ``pip install --no-deps --target DIR transformers==4.46.3 tokenizers==0.20.3
  huggingface_hub==0.26.5 regex`` and ``--reference-site DIR`` (put first on ``sys.path``).

A model whose reference cannot be imported prints ``skipped: <why>``. Batch sizes are chosen so that a CPU step takes
about a second with one thread (``--batch st_fno=2`` overrides); the configuration is otherwise the paper's.
The full run (every model) writes docs/results/vs_references.txt headed by its command; a ``--models`` subset writes
only to ``--out`` when given.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.harness import interleaved, set_threads, speed_ratio
from specsolve.registry import create

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("fno", "st_fno", "galerkin", "gfno", "scot")
DEFAULT_BATCH = {"fno": 20, "st_fno": 1, "galerkin": 4, "gfno": 10, "scot": 2}


class Skipped(Exception):
    """The reference of a model is not available here (the message says why)."""


@dataclass
class Case:
    """One model and its reference, built with the same weights, with their inputs and targets prepared in each
    implementation's own layout (so no layout change is timed on either side beyond what the model itself does)."""

    title: str
    ours: nn.Module
    ref: nn.Module
    ours_forward: Callable[[], Tensor]
    ref_forward: Callable[[], Tensor]
    ours_target: Tensor
    ref_target: Tensor
    same_function: float
    note: str = ""


def real_params(model: nn.Module) -> int:
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())


def rel_diff(ours: Tensor, ref: Tensor) -> float:
    return float((ours.double() - ref.double()).abs().max() / ref.double().abs().max())


def rel_l2(out: Tensor, target: Tensor) -> Tensor:
    """The same loss on both sides: mean over the batch of ||out - y|| / ||y||."""
    diff = (out - target).flatten(1).norm(dim=1)
    return (diff / target.flatten(1).norm(dim=1)).mean()


def _add_path(path: Path | str) -> None:
    path = str(Path(path).resolve())
    if path not in sys.path:
        sys.path.insert(0, path)


# ---------------------------------------------------------------------------------------------------------------
# the cases
# ---------------------------------------------------------------------------------------------------------------
def fno_case(args: argparse.Namespace, batch: int) -> Case:
    from benchmarks import fno_vs_neuralop as nv
    from specsolve.models.fno import FNO

    try:
        from neuralop.models import FNO as NeuralopFNO
    except ImportError as exc:
        raise Skipped(f"neuraloperator not importable ({exc})") from exc
    cfg = argparse.Namespace(modes=12, width=32, layers=4, padding=9)
    torch.manual_seed(0)
    ours = FNO(1, 1, [12, 12], 32, 4, 128, 9)
    ref = nv.build_neuralop(NeuralopFNO, cfg, F.gelu)
    nv.copy_weights(ours, ref, 12)
    x = torch.randn(batch, 1, 85, 85)
    y = torch.randn_like(x)
    # same function: neuralop applies the activation twice per block without its channel MLP (gelu(gelu(.)));
    # with ReLU (idempotent) the two compute the same function, so the check runs on ReLU copies of the weights
    ours_relu = FNO(1, 1, [12, 12], 32, 4, 128, 9, activation="relu")
    ours_relu.load_state_dict(ours.state_dict())
    ref_relu = nv.build_neuralop(NeuralopFNO, cfg, F.relu)
    nv.copy_weights(ours_relu, ref_relu, 12)
    with torch.no_grad():
        diff = rel_diff(ours_relu(x[:2]), ref_relu(x[:2]))
    return Case(
        f"FNO-2D Darcy 85^2 (+9), modes 12, width 32, 4 layers, batch {batch} vs neuraloperator 2.0.0",
        ours,
        ref,
        lambda: ours(x),
        lambda: ref(x),
        y,
        y,
        diff,
        "same-function check with ReLU (neuralop applies GELU twice per block; timed with GELU)",
    )


def st_fno_case(args: argparse.Namespace, batch: int) -> Case:
    if not args.torch_cfd_checkout:
        raise Skipped("pass --torch-cfd-checkout DIR (torch-cfd's fno/sfno.py is not in the torch-cfd wheel)")
    _add_path(ROOT / "tests")
    import st_fno_reference as S  # noqa: PLC0415 - the weight map of the reference-equivalence test

    try:
        sfno_class = S.reference_sfno_class(args.torch_cfd_checkout)
    except (ImportError, FileNotFoundError) as exc:
        raise Skipped(f"torch-cfd SFNO not importable from {args.torch_cfd_checkout} ({exc})") from exc
    from specsolve.models.st_fno import STFNO

    config = dict(modes=12, modes_t=5, width=20, latent_steps=10, out_steps=40, num_spectral_layers=4, beta=0.01)
    config["activation"] = "gelu"  # configs/ns2d_st_fno.yaml, torch-cfd fno/train.py
    torch.manual_seed(0)
    ours = STFNO(1, 1, **config)
    ref = S.build_reference(sfno_class, config)
    ref.load_state_dict(S.to_reference_state(ours.state_dict()), strict=True)
    x = torch.randn(batch, 10, 1, 64, 64)
    y = torch.randn(batch, 40, 1, 64, 64)
    x_ref, y_ref = x[:, :, 0].permute(0, 2, 3, 1).contiguous(), y[:, :, 0].permute(0, 2, 3, 1).contiguous()
    with torch.no_grad():
        diff = rel_diff(ours(x).permute(0, 2, 3, 4, 1)[:, 0], ref(x_ref, out_steps=40))
    return Case(
        f"ST-FNO NS 64^2, 10 -> 40 steps, modes 12/5, width 20, 4 layers, GELU, batch {batch} vs torch-cfd SFNO",
        ours,
        ref,
        lambda: ours(x),
        lambda: ref(x_ref, out_steps=40),
        y,
        y_ref,
        diff,
    )


@contextlib.contextmanager
def galerkin_dropout_off(layers: types.ModuleType) -> Iterator[None]:
    """The reference's attention applies ``F.dropout(p=0.5)`` even in eval mode: identity for the check only."""
    saved = layers.F
    shim = types.SimpleNamespace(**{n: getattr(F, n) for n in dir(F) if n[:2] != "__"})
    shim.dropout = lambda x, *a, **k: x
    layers.F = shim
    try:
        yield
    finally:
        layers.F = saved


def galerkin_case(args: argparse.Namespace, batch: int) -> Case:
    _add_path(ROOT / "tests")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # galerkin_transformer prints a Plotly notice on import
            import test_reference_equivalence_galerkin as G  # noqa: PLC0415 - config and weight map of the test
    except BaseException as exc:  # pytest.importorskip raises Skipped (a BaseException) outside pytest too
        raise Skipped(f"galerkin-transformer 0.2.1 not importable ({exc})") from exc
    config = dict(G.BURGERS, attention_type="galerkin", xavier_init=0.01)  # configs/galerkin_burgers_2048.yaml
    n = 2048
    torch.manual_seed(0)
    ours = G.ours_from(config)
    ref = G.reference_model(config, n, None)
    G.to_reference(ours, ref)
    x = torch.randn(batch, 1, n)
    y = torch.randn_like(x)
    node = x.movedim(1, -1).contiguous()
    pos = G.nodes((n,), node).unsqueeze(0).expand(batch, -1, -1).contiguous()
    y_ref = y.movedim(1, -1).contiguous()
    ours.eval(), ref.eval()
    with torch.no_grad(), galerkin_dropout_off(G.gt_layers):
        diff = rel_diff(ours(x).movedim(1, -1), ref(node, None, pos)["preds"])
    return Case(
        f"Galerkin Transformer Burgers n=2048 (4 layers, d 96, 16 modes), batch {batch} vs galerkin-transformer 0.2.1",
        ours,
        ref,
        lambda: ours(x),
        lambda: ref(node, None, pos)["preds"],
        y,
        y_ref,
        diff,
        "reference timed as published (its always-on attention dropout on the 96x96 Galerkin matrix included)",
    )


def gfno_case(args: argparse.Namespace, batch: int) -> Case:
    if not args.gfno_checkout:
        raise Skipped("pass --gfno-checkout DIR (divelab/AIRS, or its OpenPDE/G-FNO folder; GPL-3.0, not bundled)")
    from reproductions.fixtures import fno_gfno_reference as R
    from reproductions.fixtures.make_gfno_official_fixture import build_reference, load_official

    try:
        module = load_official(Path(args.gfno_checkout).resolve())
    except (ImportError, SystemExit, OSError) as exc:
        raise Skipped(f"official G-FNO not importable from {args.gfno_checkout} ({exc})") from exc
    settings = dict(R.GFNO_CASES["gfno2d_p4_paper_m12_w10_64"])
    torch.manual_seed(0)
    ref = build_reference(module, settings)
    ours = R.build_gfno(settings)
    ours.load_state_dict(R.gfno_state_from_official(ref.state_dict(), 2))
    x_ref = torch.randn(batch, 64, 64, 10)
    x = x_ref.movedim(-1, 1).contiguous()
    y = torch.randn(batch, 1, 64, 64)
    y_ref = R.gfno_output_to_reference_layout(y).contiguous()
    ours.eval(), ref.eval()
    with torch.no_grad():
        diff = rel_diff(R.gfno_output_to_reference_layout(ours(x)), ref(x_ref))
    return Case(
        f"G-FNO p4 NS-2D 64^2, 10 -> 1, modes 12, width 10, 4 layers, batch {batch} vs official GFNO2d",
        ours,
        ref,
        lambda: ours(x),
        lambda: ref(x_ref),
        y,
        y_ref,
        diff,
    )


def scot_case(args: argparse.Namespace, batch: int) -> Case:
    if not args.poseidon_checkout:
        raise Skipped("pass --poseidon-checkout DIR (camlab-ethz/poseidon; no licence, not bundled)")
    if args.reference_site:
        _add_path(args.reference_site)
    _add_path(args.poseidon_checkout)
    try:
        from scOT.model import ScOT as PoseidonScOT
        from scOT.model import ScOTConfig
    except Exception as exc:  # transformers missing or of another version
        raise Skipped(f"Poseidon's scOT not importable ({type(exc).__name__}: {exc}); it needs transformers") from exc
    _add_path(ROOT / "tests" / "fixtures")
    from make_poseidon_fixture import T_CONFIG  # noqa: PLC0415

    from specsolve.models.poseidon_checkpoint import convert_state_dict, load_state_into, scot_kwargs
    from specsolve.models.scot import ScOT

    config = dict(T_CONFIG, num_channels=1, num_out_channels=1)  # configs/scot_all2all_t.yaml: 1 -> 1 field
    torch.manual_seed(0)
    cfg = ScOTConfig(**config)
    ref = PoseidonScOT(cfg)
    kwargs = scot_kwargs(json.loads(cfg.to_json_string()))
    ours = ScOT(**kwargs)
    load_state_into(ours, convert_state_dict(ref.state_dict(), len(kwargs["depths"])), source="Poseidon model")
    x = torch.randn(batch, 1, 128, 128)
    y = torch.randn_like(x)
    t = torch.rand(batch)
    ours.eval(), ref.eval()
    with torch.no_grad():
        diff = rel_diff(ours(x, t), ref(pixel_values=x, time=t).output)
    return Case(
        f"scOT-T 128^2 (embed 48, depths 4x4, window 16, patch 4), 1 -> 1, batch {batch} vs Poseidon scOT",
        ours,
        ref,
        lambda: ours(x, t),
        lambda: ref(pixel_values=x, time=t).output,
        y,
        y,
        diff,
    )


BUILDERS: dict[str, Callable[[argparse.Namespace, int], Case]] = {
    "fno": fno_case,
    "st_fno": st_fno_case,
    "galerkin": galerkin_case,
    "gfno": gfno_case,
    "scot": scot_case,
}


# ---------------------------------------------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------------------------------------------
def train_step(
    model: nn.Module, forward: Callable[[], Tensor], target: Tensor, optimizer: Callable[..., torch.optim.Optimizer]
) -> Callable[[], None]:
    opt = optimizer(model.parameters())

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        rel_l2(forward(), target).backward()
        opt.step()

    return step


def inference(forward: Callable[[], Tensor]) -> Callable[[], None]:
    def infer() -> None:
        with torch.no_grad():
            forward()

    return infer


def measure(case: Case, rounds: int) -> dict[str, tuple[float, float, float, float]]:
    """``{"train" | "inference": (ours s, ref s, ratio of medians, median per-round ratio)}``."""
    out = {}
    case.ours.train(), case.ref.train()
    steps = {
        "specsolve": train_step(case.ours, case.ours_forward, case.ours_target, create("optimizer", "adam", lr=1e-4)),
        "reference": train_step(
            case.ref, case.ref_forward, case.ref_target, lambda params: torch.optim.Adam(params, lr=1e-4)
        ),
    }
    t = interleaved(steps, rounds=rounds, warmup=1)
    out["train"] = (t["specsolve"].median, t["reference"].median, *speed_ratio(t, "specsolve", "reference"))
    case.ours.eval(), case.ref.eval()
    calls = {"specsolve": inference(case.ours_forward), "reference": inference(case.ref_forward)}
    t = interleaved(calls, rounds=rounds, warmup=1)
    out["inference"] = (t["specsolve"].median, t["reference"].median, *speed_ratio(t, "specsolve", "reference"))
    return out


def parse_batches(items: list[str]) -> dict[str, int]:
    batches = dict(DEFAULT_BATCH)
    for item in items:
        name, _, value = item.partition("=")
        if name not in MODELS or not value.isdigit():
            raise SystemExit(f"--batch takes MODEL=N with MODEL in {', '.join(MODELS)}, got {item!r}")
        batches[name] = int(value)
    return batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {','.join(MODELS)}")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds per phase (medians)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (both sides)")
    parser.add_argument("--batch", action="append", default=[], metavar="MODEL=N", help="batch size of a model")
    parser.add_argument("--torch-cfd-checkout", default=os.environ.get("SPECSOLVE_TORCH_CFD"))
    parser.add_argument("--gfno-checkout", default=None, help="divelab/AIRS checkout (or its OpenPDE/G-FNO folder)")
    parser.add_argument("--poseidon-checkout", default=None, help="camlab-ethz/poseidon checkout")
    parser.add_argument("--reference-site", default=None, help="extra site dir first on sys.path (transformers)")
    args = parser.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    batches = parse_batches(args.batch)
    threads = set_threads(args.threads)
    load = os.getloadavg()
    print(
        f"torch {torch.__version__}, {threads} thread(s) (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}), "
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)"
    )
    print(f"{args.rounds} interleaved rounds per phase after 1 warm-up call; ratio = specsolve speed / reference speed")
    rows = []
    for name in models:
        print(f"\n[{name}]")
        try:
            case = BUILDERS[name](args, batches[name])
        except Skipped as exc:
            print(f"  skipped: {exc}")
            rows.append((name, None))
            continue
        print(f"  {case.title}")
        print(f"  parameters (real): specsolve {real_params(case.ours):,}, reference {real_params(case.ref):,}")
        print(f"  same function: max |ours - ref| / max |ref| = {case.same_function:.1e} (float32, same weights)")
        if case.note:
            print(f"  note: {case.note}")
        result = measure(case, args.rounds)
        for phase, (ours_s, ref_s, ratio, paired) in result.items():
            print(
                f"  {phase:>9}: specsolve {ours_s * 1e3:8.1f} ms, reference {ref_s * 1e3:8.1f} ms -> {ratio:.2f}x "
                f"(median of per-round ratios {paired:.2f}x)"
            )
        rows.append((name, result))
        del case
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")
    print("\nsummary (specsolve speed / reference speed, ratio of medians; > 1: specsolve faster)")
    print(f"  {'model':<10}{'train':>8}{'inference':>11}")
    for name, result in rows:
        if result is None:
            print(f"  {name:<10}{'skipped':>8}")
        else:
            print(f"  {name:<10}{result['train'][2]:>7.2f}x{result['inference'][2]:>10.2f}x")


if __name__ == "__main__":
    from reproductions.report import run

    full = not any(a == "--models" or a.startswith("--models=") for a in sys.argv[1:])
    run(main, "vs_references.txt" if full else None)
