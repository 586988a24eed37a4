"""``specsolve export``: a checkpoint as a self-contained program (``torch.export`` ``.pt2`` or ONNX).

The exported graph is ``denorm_y(model(norm_x(x)))`` (plus the model's ``constrain_output``), the same map as
:class:`~specsolve.training.module.OperatorModule`: raw fields go in, physical fields come out, and nothing of
specsolve is needed to run it (``torch.export.load(path).module()(x)`` or an ``onnxruntime`` session).

Spectral layers are exported in their real-valued DFT form (:func:`~specsolve.nn.spectral_conv.truncated_rfftn`,
:func:`~specsolve.nn.spectral_conv.complex_mode_matmul`, :func:`~specsolve.nn.spectral_conv.truncated_irfftn`:
matrix products only), because complex tensors and ``aten._fft_*`` ops have no ONNX lowering: FNO's
:class:`~specsolve.nn.spectral_conv.SpectralConv` switches to ``backend="dft"``; G-FNO's group spectral layer and
the Galerkin Transformer's Fourier decoder layer are replaced by an equivalent real-DFT layer whose weights (the
expanded group kernel, precomputed) are constants of the program. A model that still holds complex ops after that
is refused for ONNX with a one-line reason; ``pt2`` keeps them.

A program is specialised to its example shape ``(batch, C_in, *grid)``: the DFT matrices, FNO's per-sample CPU
projection and the grid features all depend on it.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from specsolve.errors import ConfigError, DataError
from specsolve.nn.spectral_conv import SpectralConv, complex_mode_matmul, truncated_irfftn, truncated_rfftn

ExportFormat = Literal["pt2", "onnx"]
EXPORT_FORMATS: tuple[str, ...] = ("pt2", "onnx")
METADATA_NAME = "specsolve.json"
"""Name of the metadata entry: ``extra_files`` of a ``.pt2`` archive, ``metadata_props`` key of an ONNX model."""


class RealDFTSpectral(nn.Module):
    """``irfftn(W . rfftn(x))`` on ``(B, I, *S)`` for a complex weight on the kept block, by real matrix products.

    ``weight (I, O, 2m_1, ..., 2m_{d-1}, m_d, 2)`` in the block layout of
    :func:`~specsolve.nn.spectral_conv.truncated_rfftn` (frequencies ``0..m-1, -m..-1`` on the leading axes).
    """

    def __init__(self, weight: Tensor, modes: Sequence[int]) -> None:
        super().__init__()
        self.modes = list(modes)
        self.register_buffer("weight", weight.detach().clone().contiguous())

    def forward(self, x: Tensor) -> Tensor:
        spatial = tuple(x.shape[2:])
        mixed = complex_mode_matmul(truncated_rfftn(x, self.modes), self.weight.to(x.dtype))
        return truncated_irfftn(mixed, self.modes, spatial)


class GalerkinDFTLayer(nn.Module):
    """The Galerkin Transformer's decoder Fourier layer ``silu(irfft(R rfft(x)) + Linear(x))`` on ``(B, *S, I)``
    (eval mode: no dropout) with the Fourier branch in real-DFT form. ``norm="ortho"`` on both transforms is the
    same map as the unnormalised forward / ``1/N`` inverse pair that the DFT matrices implement."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        m = layer.modes
        if layer.ndim == 1:
            weight, modes = layer.weight[0], [m]
        else:  # blocks kx in [0, m) and [-m, 0): the 0..m-1, -m..-1 row layout of the DFT block
            weight, modes = torch.cat([layer.weight[0], layer.weight[1]], dim=2), [m, m]
        self.linear = copy.deepcopy(layer.linear)
        self.spectral = RealDFTSpectral(weight, modes)

    def forward(self, x: Tensor) -> Tensor:
        fourier = self.spectral(x.movedim(-1, 1)).movedim(1, -1)
        return F.silu(fourier + self.linear(x))


def _gfno_dft(layer: nn.Module) -> RealDFTSpectral:
    """G-FNO's group spectral layer with its expanded kernel precomputed: rows ``ky = -(m-1)..m-1`` move to the
    ``0..m-1, -m..-1`` DFT block layout (frequency ``-m`` is zero), ``(O, I)`` to ``(I, O)``, complex to a last
    ``(real, imag)`` axis."""
    m = layer.modes
    with torch.no_grad():
        kernel = layer.kernel(torch.float32 if layer.weight_dc.dtype != torch.float64 else torch.float64)
    rows = torch.cat(
        [kernel[:, :, m - 1 :], kernel[:, :, :1].new_zeros(kernel[:, :, :1].shape), kernel[:, :, : m - 1]], 2
    )
    weight = torch.view_as_real(rows.transpose(0, 1).contiguous())
    return RealDFTSpectral(weight, [m, m])


def _replacement(module: nn.Module) -> nn.Module | None:
    """The real-DFT export form of one layer, or ``None`` to keep it (FNO's layer switches backend in place)."""
    from specsolve.models.gfno import GSpectralConv2d
    from specsolve.nn.galerkin import SpectralConv as GalerkinSpectralConv

    if isinstance(module, SpectralConv):
        module.backend = "dft"
        return None
    if isinstance(module, GSpectralConv2d):
        return _gfno_dft(module)
    if isinstance(module, GalerkinSpectralConv):
        return GalerkinDFTLayer(module)
    return None


def export_form(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (eval mode) with every spectral layer in its real-DFT form."""
    model = copy.deepcopy(model).eval()
    for name, module in list(model.named_modules()):
        new = _replacement(module)
        if new is not None and name:
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, new)
    return model


class NormalisedOperator(nn.Module):
    """``constrain(denorm_y(model(norm_x(x))))``: the map of an :class:`OperatorModule` without the training parts."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.model = export_form(module.model)
        self.channel_axis = int(module.channel_axis)
        for key in ("x_mean", "x_std", "y_mean", "y_std"):
            self.register_buffer(key, getattr(module, key).detach().clone())

    def _shape(self, stat: Tensor, like: Tensor) -> Tensor:
        from specsolve.training.module import broadcast_stat

        return broadcast_stat(stat, like, self.channel_axis)

    def forward(self, x: Tensor) -> Tensor:
        out = self.model((x - self._shape(self.x_mean, x)) / self._shape(self.x_std, x))
        y = out * self._shape(self.y_std, out) + self._shape(self.y_mean, out)
        constrain = getattr(self.model, "constrain_output", None)
        return y if constrain is None else constrain(y)


def example_shape(hp: dict[str, Any], grid: Sequence[int], batch_size: int) -> tuple[int, ...]:
    """``(batch, C_in, *grid)``, or ``(batch, n_in, C_in, *grid)`` for time-axis windows (``layout: time``)."""
    data_cfg = hp["config"].get("data") or {}
    if data_cfg.get("layout") == "time":
        return (batch_size, int(data_cfg["n_in"]), int(hp["in_channels"]), *grid)
    return (batch_size, int(hp["in_channels"]), *grid)


def _training_grid(hp: dict[str, Any]) -> list[int] | None:
    """The (strided) spatial grid of the checkpoint's training data, when that file is still readable."""
    data_cfg = hp["config"].get("data") or {}
    path = data_cfg.get("train")
    if not path or not Path(str(path)).is_file():
        return None
    try:
        from specsolve.data.fields import FieldDataset

        inputs = list(data_cfg["inputs"])
        dataset = FieldDataset(path, inputs, [], stride=int(data_cfg.get("stride", 1)))
        return [int(n) for n in dataset[0][0].shape[1:]]
    except Exception:
        return None


def graph_nodes(program: torch.export.ExportedProgram) -> list[torch.fx.Node]:
    """Every node of ``program``'s graph and of the subgraphs it calls."""
    return [
        node for gm in program.graph_module.modules() if isinstance(gm, torch.fx.GraphModule) for node in gm.graph.nodes
    ]


def _complex_ops(program: torch.export.ExportedProgram) -> list[str]:
    """The ops of ``program`` that produce or take complex tensors, or are FFTs (no ONNX lowering), including
    those inside nested graphs (``with torch.autocast(...)`` blocks become ``wrap_with_autocast`` subgraphs)."""
    found = []
    for node in graph_nodes(program):
        if node.op != "call_function":
            continue
        value = node.meta.get("val")
        values = value if isinstance(value, (list, tuple)) else [value]
        is_complex = any(isinstance(v, torch.Tensor) and v.is_complex() for v in values)
        name = str(node.target)
        if is_complex or "fft" in name or "complex" in name:
            found.append(name)
    return sorted(set(found), key=lambda op: ("fft" not in op, op))  # the FFTs first


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    format: ExportFormat = "pt2",
    grid: Sequence[int] | None = None,
    batch_size: int = 1,
    overwrite: bool = False,
    check: bool = True,
) -> dict[str, Any]:
    """Write ``checkpoint``'s model (normalisation included) as a ``torch.export`` program or an ONNX model.

    ``grid``: the spatial shape the program is specialised to (default: the training data's strided grid, when
    that file is readable). ``check``: run the written file on a random raw input and report the largest
    difference from the eager checkpoint (``max_abs_diff``; ONNX needs ``onnxruntime``, else it is ``None``).
    Returns ``{"path", "format", "model", "input_shape", "output_shape", "max_abs_diff", "metadata"}``.
    """
    from specsolve.training.checkpoint import load_module

    if format not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format '{format}' (choose from {', '.join(EXPORT_FORMATS)})")
    out = Path(out)
    if out.exists() and not overwrite:
        raise DataError(f"output file already exists: {out} (pass overwrite=True to replace it)")
    if out.is_dir():
        raise DataError(f"export output is a directory, not a file: {out}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be positive, got {batch_size}")
    module, hp = load_module(checkpoint)
    name = hp["config"]["model"]["name"]
    if getattr(module.model, "time_conditioning", False):
        raise ConfigError(
            f"model '{name}' cannot be exported: it is time-conditioned (model(x, t)); export takes one input field"
        )
    grid = list(grid) if grid else _training_grid(hp)
    if not grid:
        raise ConfigError(
            f"give the grid to export for (e.g. grid=64,64): the training data of {checkpoint} is not readable"
        )
    shape = example_shape(hp, grid, batch_size)
    example = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    wrapper = NormalisedOperator(module).eval()
    with torch.no_grad():
        try:
            expected = module(example)
        except DataError as exc:
            raise DataError(f"model '{name}' cannot run on an input of shape {list(shape)}: {exc}") from None
    program = _torch_export(wrapper, example, name)
    metadata = {
        "model": name,
        "format": format,
        "input_shape": list(shape),
        "output_shape": list(expected.shape),
        "inputs": list((hp["config"].get("data") or {}).get("inputs") or []),
        "outputs": list((hp["config"].get("data") or {}).get("outputs") or []),
        "normalisation": "included: raw fields in, physical fields out",
        "checkpoint": str(Path(checkpoint).resolve()),
    }
    from specsolve.io import atomic_path

    if format == "pt2":
        with atomic_path(out) as tmp, open(tmp, "wb") as stream:  # a stream: the temporary name is not *.pt2
            torch.export.save(program, stream, extra_files={METADATA_NAME: json.dumps(metadata)})
        if check:
            with torch.no_grad():
                got = torch.export.load(out).module()(example)
        else:
            got = None
    else:
        complex_ops = _complex_ops(program)
        if complex_ops:
            raise ConfigError(
                f"model '{name}' cannot be exported to ONNX: it keeps complex FFT ops ({', '.join(complex_ops[:3])}) "
                "that have no real-DFT export form (pt2 works)"
            )
        onnx_model = _onnx_export(program, example, name)
        onnx_model.metadata_props.add(key=METADATA_NAME, value=json.dumps(metadata))
        import onnx

        with atomic_path(out) as tmp:
            onnx.save(onnx_model, str(tmp))
        got = _onnxruntime_run(out, example) if check else None
    diff = None if got is None else float((torch.as_tensor(got) - expected).abs().max())
    return {
        "path": out,
        "format": format,
        "model": name,
        "input_shape": list(shape),
        "output_shape": list(expected.shape),
        "max_abs_diff": diff,
        "metadata": metadata,
    }


def _torch_export(wrapper: nn.Module, example: Tensor, name: str) -> torch.export.ExportedProgram:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.export.export(wrapper, (example,), strict=False)
    except Exception as exc:
        raise ConfigError(f"model '{name}' cannot be exported by torch.export: {_first_line(exc)}") from None


def _onnx_export(program: torch.export.ExportedProgram, example: Tensor, name: str):
    """The ``onnx.ModelProto`` of ``program`` (torch's dynamo ONNX exporter, which needs ``onnxscript``)."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise ConfigError(
            "ONNX export needs the 'onnx' and 'onnxscript' packages: pip install 'specsolve[export]'"
        ) from None
    import contextlib
    import io
    import logging

    registration = logging.getLogger("torch.onnx._internal.exporter._registration")  # "torchvision not installed"
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            onnx_program = torch.onnx.export(program, (example,), dynamo=True, verbose=False, optimize=True)
    except Exception as exc:
        raise ConfigError(f"model '{name}' cannot be exported to ONNX: {_first_line(exc)}") from None
    finally:
        registration.setLevel(level)
    return onnx_program.model_proto


def _onnxruntime_run(path: Path, example: Tensor) -> Any:
    """The ONNX model's output on ``example`` through ``onnxruntime``, or ``None`` without it."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: example.numpy()})[0]
