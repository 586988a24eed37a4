"""Galerkin / Fourier Transformer against galerkin-transformer 0.2.1 (MIT, the ``reference`` test extra).

Our weights are copied into the reference's ``SimpleTransformer`` (1D) and ``FourierTransformer2D`` (2D), built
from its ``config.yml`` entries (``ex1_burgers``, ``ex2_darcy``; the constructors need every key), and the outputs
compared in float64 and float32. Bridged here, not in specsolve:

- the reference applies ``F.dropout(p=0.5)`` to the attention matrix even in eval mode: for the deterministic
  comparison its ``F.dropout`` is replaced by the identity (``no_reference_dropout``); with our
  ``reference_attention_dropout`` switch on the two models draw the same masks from the same seed instead;
- its 2D spectral layer allocates the output spectrum with the default dtype: the float64 runs set the default
  dtype to float64 (``default_dtype``);
- its 2D scalers take the intermediate grid sizes as configuration: we pass ours (``intermediate_size``); the
  coordinates ``pos`` (coarse) and ``grid`` (fine) are inputs of the reference model; ``nodes`` builds them as the
  reference's data pipeline does (``linspace(0, 1, n)``), independently of specsolve.

Run: ``pip install -e .[reference]`` then ``pytest tests/test_reference_equivalence_galerkin.py``.
"""

from __future__ import annotations

import re
import types

import pytest
import torch
import torch.nn.functional as F

from specsolve.models.galerkin_transformer import GalerkinTransformer
from specsolve.nn.galerkin import intermediate_size

pytest.importorskip("IPython")  # galerkin_transformer imports it (and pandas, psutil, ...) without declaring it
gt_model = pytest.importorskip("galerkin_transformer.model")
gt_layers = pytest.importorskip("galerkin_transformer.layers")

TOL = {torch.float64: 1e-10, torch.float32: 1e-5}

# galerkin-transformer's config.yml (f9e7d6a), the keys its constructors read
BURGERS = dict(
    node_feats=1, edge_feats=None, pos_dim=1, n_targets=1, n_hidden=96, num_feat_layers=0, num_encoder_layers=4,
    n_head=1, pred_len=0, n_freq_targets=0, dim_feedforward=192, feat_extract_type=None, attention_type="fourier",
    xavier_init=0.001, diagonal_weight=0.01, symmetric_init=False, layer_norm=False, attn_norm=True,
    batch_norm=False, spacial_residual=False, return_attn_weight=False, return_latent=False, residual_type="plus",
    seq_len=None, bulk_regression=False, decoder_type="ifft", freq_dim=48, num_regressor_layers=2,
    fourier_modes=16, spacial_dim=1, spacial_fc=False, dropout=0.0, encoder_dropout=0.0, ffn_dropout=0.0,
    decoder_dropout=0.0, debug=False,
)  # fmt: skip
DARCY = dict(
    node_feats=1, pos_dim=2, n_targets=1, n_hidden=128, num_feat_layers=0, num_encoder_layers=6, n_head=4,
    dim_feedforward=256, feat_extract_type=None, attention_type="galerkin", xavier_init=0.01,
    diagonal_weight=0.01, symmetric_init=False, layer_norm=False, attn_norm=True, norm_eps=1e-7,
    batch_norm=False, return_attn_weight=False, return_latent=False, decoder_type="ifft2", spacial_dim=2,
    spacial_fc=True, upsample_mode="interp", downsample_mode="interp", freq_dim=32,
    boundary_condition="dirichlet", num_regressor_layers=2, fourier_modes=12, regressor_activation="silu",
    downscaler_activation="relu", upscaler_activation="silu", last_activation=True, dropout=0.0,
    downscaler_dropout=0.05, upscaler_dropout=0.0, ffn_dropout=0.05, encoder_dropout=0.05, decoder_dropout=0,
    debug=False,
)  # fmt: skip


@pytest.fixture
def no_reference_dropout(monkeypatch):
    """The reference's ``attention``/``linear_attention`` call ``F.dropout(p_attn)`` (p=0.5, always on): identity."""
    shim = types.SimpleNamespace(**{n: getattr(F, n) for n in dir(F) if n[:2] != "__"})
    shim.dropout = lambda x, *args, **kwargs: x
    monkeypatch.setattr(gt_layers, "F", shim)


@pytest.fixture
def default_dtype(dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    yield
    torch.set_default_dtype(previous)


def ours_from(config: dict, **switches) -> GalerkinTransformer:
    dim = config["spacial_dim"]
    kwargs = dict(
        dim=dim,
        attention=config["attention_type"],
        n_hidden=config["n_hidden"],
        num_heads=config["n_head"],
        num_layers=config["num_encoder_layers"],
        dim_feedforward=config["dim_feedforward"],
        freq_dim=config["freq_dim"],
        modes=config["fourier_modes"],
        num_spectral_layers=config["num_regressor_layers"],
        xavier_gain=config["xavier_init"],
        diagonal_weight=config["diagonal_weight"],
        norm_eps=config.get("norm_eps") or 1e-5,
    )
    if dim == 2:
        kwargs.update(coarse_size=config["coarse_size"], zero_boundary=config["boundary_condition"] == "dirichlet")
    return GalerkinTransformer(config["node_feats"], config["n_targets"], **{**kwargs, **switches})


def reference_model(config: dict, fine: int, coarse: int | None):
    """The reference model of ``config``; in 2D with our intermediate grid sizes for its scalers."""
    config = {k: v for k, v in config.items() if k != "coarse_size"}
    if config["spacial_dim"] == 1:
        return gt_model.SimpleTransformer(**config)
    mid = intermediate_size((fine, fine), (coarse, coarse))
    config.update(downscaler_size=(mid, (coarse, coarse)), upscaler_size=(mid, (fine, fine)))
    return gt_model.FourierTransformer2D(**config)


RULES = [
    (r"^feature\.", "feat_extract.id."),
    (r"^downsampler\.(conv\d)\.conv\.weight$", r"downscaler.downsample.\1.conv.0.weight"),
    (r"^upsampler\.conv\.conv\.weight$", "upscaler.upsample.conv.0.conv.0.weight"),
    (r"\.attn\.query\.", ".attn.linears.0."),
    (r"\.attn\.key\.", ".attn.linears.1."),
    (r"\.attn\.value\.", ".attn.linears.2."),
]


def to_reference(ours: GalerkinTransformer, ref) -> None:
    """Copy our weights into the reference model by name (strict: every reference tensor is set)."""
    mapped = {}
    for name, value in ours.state_dict().items():
        norm = re.search(r"\.attn\.norm_([kqv])\.(weight|bias)$", name)
        if norm:  # one (h, d_k) tensor here, h LayerNorm(d_k) there
            prefix = name[: norm.start()]
            for h, row in enumerate(value):
                mapped[f"{prefix}.attn.norm_{norm[1].upper()}.{h}.{norm[2]}"] = row
            continue
        spectral = re.search(r"\.spectral_conv\.(\d+)\.weight\.(\d)$", name)
        if spectral:
            tail = "" if ours.dim == 1 else f".{spectral[2]}"
            name = name[: spectral.start()] + f".spectral_conv.{spectral[1]}.fourier_weight{tail}"
        for pattern, repl in RULES:
            name = re.sub(pattern, repl, name)
        mapped[name] = value
    ref.load_state_dict(mapped, strict=True)


def nodes(sizes: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """Node coordinates ``linspace(0, 1, n)`` per axis (endpoints included, as the reference's data pipeline),
    ``(*sizes, len(sizes))``; written here rather than taken from specsolve so the convention is under test.

    Channel ``k`` is the coordinate along axis ``k`` (``ij``), the specsolve convention. The reference's 2D
    ``get_grid`` uses ``np.meshgrid(x, y)`` (``xy``: channel 0 varies along axis 1), so weights trained with the
    reference pipeline need their two coordinate input columns swapped (a porting convention, not a model change).
    """
    axes = [torch.linspace(0, 1, n, dtype=like.dtype) for n in sizes]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)


def run_reference(ref, x: torch.Tensor, coarse: int | None) -> torch.Tensor:
    if x.dim() == 3:  # 1D: (B, 1, n)
        node = x.movedim(1, -1)
        pos = nodes(tuple(x.shape[2:]), node).unsqueeze(0).expand(x.shape[0], -1, -1)
        return ref(node, None, pos)["preds"].movedim(-1, 1)
    node = x.movedim(1, -1)
    batch = x.shape[0]
    pos = nodes((coarse, coarse), node).reshape(1, -1, 2).expand(batch, -1, -1)
    grid = nodes(tuple(x.shape[2:]), node).unsqueeze(0).expand(batch, -1, -1, -1)
    return ref(node, None, pos, grid)["preds"].movedim(-1, 1)


def perturb(model: torch.nn.Module) -> None:
    """Move every weight off its structured init (unit LN gains, zero biases, tiny xavier gains)."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p) * (p.abs().mean() + 0.1))


TINY_1D = dict(BURGERS, n_hidden=16, num_encoder_layers=2, dim_feedforward=32, freq_dim=8, fourier_modes=4)
TINY_2D = dict(DARCY, n_hidden=16, n_head=2, num_encoder_layers=2, dim_feedforward=32, freq_dim=8, fourier_modes=4)
# (name, config, grid points per axis, coarse size for 2D)
CASES = [
    ("tiny_1d_fourier", TINY_1D, 64, None),
    ("tiny_1d_galerkin", dict(TINY_1D, attention_type="galerkin", xavier_init=0.01), 64, None),
    ("burgers_fourier", BURGERS, 512, None),
    ("burgers_galerkin", dict(BURGERS, attention_type="galerkin", xavier_init=0.01), 512, None),
    ("tiny_2d_galerkin", dict(TINY_2D, coarse_size=8), 29, 8),
    ("tiny_2d_fourier", dict(TINY_2D, coarse_size=8, attention_type="fourier", boundary_condition=None), 29, 8),
    ("darcy_141_43", dict(DARCY, coarse_size=43), 141, 43),
]


def build(case, dtype, **switches):
    _, config, n, coarse = case
    torch.manual_seed(0)
    ours = ours_from(config, **switches)
    perturb(ours)
    ref = reference_model(config, n, coarse).to(dtype)  # its spectral weights are torch.FloatTensor: cast first
    ours.to(dtype).eval()
    to_reference(ours, ref)
    ref.eval()
    shape = (n,) if config["spacial_dim"] == 1 else (n, n)
    x = torch.randn(2, 1, *shape, dtype=dtype)
    return ours, ref, x


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_galerkin_transformer_matches_reference(case, dtype, default_dtype, no_reference_dropout) -> None:
    config = case[1]
    ours, ref, x = build(case, dtype, reference_fourier_scaling=config["attention_type"] == "fourier")
    with torch.no_grad():
        expected = run_reference(ref, x, case[3])
        got = ours(x)
    assert got.dtype == dtype and expected.dtype == dtype
    assert rel_diff(got, expected) <= TOL[dtype]


@pytest.mark.parametrize("dtype", [torch.float64], ids=["fp64"])
def test_fourier_attention_without_the_switch_is_the_papers_formula(dtype, default_dtype, no_reference_dropout):
    """Off by default: the Fourier scores are not divided by sqrt(d_k + p), so the reference differs."""
    ours, ref, x = build(CASES[0], dtype)
    with torch.no_grad():
        assert rel_diff(ours(x), run_reference(ref, x, None)) > 1e-3


@pytest.mark.parametrize("dtype", [torch.float64], ids=["fp64"])
@pytest.mark.parametrize("case", [CASES[1], CASES[4]], ids=["1d_galerkin", "2d_galerkin"])
def test_reference_attention_dropout_draws_the_references_masks(case, dtype, default_dtype) -> None:
    """With the switch, eval-mode outputs are random exactly as the reference's: same seed, same output."""
    ours, ref, x = build(case, dtype, reference_attention_dropout=True)
    with torch.no_grad():
        torch.manual_seed(1)
        expected = run_reference(ref, x, case[3])
        torch.manual_seed(1)
        got = ours(x)
        torch.manual_seed(2)
        other = ours(x)
    assert rel_diff(got, expected) <= TOL[dtype]
    assert rel_diff(other, got) > 1e-3  # the dropout is really on in eval mode
    off = ours_from(case[1])
    off.load_state_dict(ours.state_dict())
    off.to(dtype).eval()
    with torch.no_grad():
        assert torch.equal(off(x), off(x))  # and off by default


class GaussianDecoder:
    """A stand-in for the reference's ``UnitGaussianNormalizer``: ``inverse_transform(y) = y * std + mean``."""

    def __init__(self, mean: float, std: float) -> None:
        self.mean, self.std = mean, std

    def inverse_transform(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.std + self.mean

    def to(self, *args, **kwargs):
        return self


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
def test_physical_zero_boundary_matches_the_reference_with_its_normaliser(dtype, default_dtype, no_reference_dropout):
    """``zero_boundary="physical"`` + the training module's de-normalisation = the reference with an in-model
    normaliser followed by its Dirichlet padding; the default (``True``) zeroes the normalised output instead."""
    from specsolve.training.module import OperatorModule

    mean, std = 0.7, 2.5
    case = CASES[4]
    ours, ref, x = build(case, dtype, zero_boundary="physical")
    ref.normalizer = GaussianDecoder(mean, std)
    # the module is built with a throw-away model, then given ours
    model_config = {"name": "fno", "in_channels": 1, "out_channels": 1, "modes": [2, 2], "width": 4}
    config = {"model": model_config, "loss": [{"name": "rel_l2"}]}
    stats = {"y_mean": torch.tensor([mean]), "y_std": torch.tensor([std])}
    module = OperatorModule(config, 1, 1, stats).to(dtype).eval()
    module.model = ours
    with torch.no_grad():
        expected = run_reference(ref, x, case[3])
        got = module(x)
        assert rel_diff(got, expected) <= TOL[dtype]
        assert got[..., 0, :].abs().max() == 0 and got[..., :, -1].abs().max() == 0
        ours.zero_boundary = True  # the normalised ring is zero, the physical one is y_mean
        assert torch.allclose(module(x)[..., 0, :], torch.full_like(got[..., 0, :], mean))
