"""Shared helpers of the residual losses (``nsm_residual``, ``pinn_residual``): building the PDE, tensor layouts,
boundary / initial-condition penalties."""

from __future__ import annotations

import inspect
from typing import Literal

import torch
from torch import Tensor

from specsolve.errors import ConfigError
from specsolve.pde import PDESpec, get_pde, grid_derivative
from specsolve.pde.library import pde_factory

#: the ``pde`` key of the residual losses: any registered PDE (built-ins and plugins, ``specsolve.pde.list_pdes()``)
PDEName = str


def build_spec(pde: str, **params: float | int | None) -> PDESpec:
    """``get_pde(pde, **params)`` with the ``None`` parameters left at the PDE's defaults."""
    allowed = inspect.signature(pde_factory(pde)).parameters
    given = {k: v for k, v in params.items() if v is not None}
    bad = [k for k in given if k not in allowed]
    if bad:
        raise ConfigError(f"PDE '{pde}' takes no parameter(s) {bad}; its parameters: {', '.join(allowed)}")
    return get_pde(pde, **given)


def to_axes(x: Tensor, spec: PDESpec) -> Tensor:
    """``(B, T, C, *space)`` (time-dependent) or ``(B, C, *space)`` -> ``(B, C, *axes)`` with the domain's axes."""
    nd = spec.domain.ndim
    if x.ndim != nd + 2:
        layout = "(B, T, C, *space)" if spec.is_time_dependent else "(B, C, *space)"
        raise ValueError(f"PDE '{spec.name}' expects {layout} with {nd} grid axes in all, got shape {tuple(x.shape)}")
    return x.transpose(1, 2) if spec.is_time_dependent else x


def input_field(inputs: Tensor | None, spec: PDESpec, shape: torch.Size) -> Tensor | None:
    """The model input in the axes layout: a source / coefficient field ``(B, C, *axes)``, or an initial condition
    ``(B, C, *space)`` (accepted as ``(B, 1, C, *space)`` too)."""
    if inputs is None or spec.input_role is None:
        return None
    if spec.input_role == "initial_condition":
        if inputs.ndim == len(shape):  # (B, 1, C, *space)
            inputs = inputs[:, 0]
        expect = (shape[0], shape[1], *shape[3:])
    else:
        inputs = to_axes(inputs, spec)
        expect = tuple(shape)
    same_grid = inputs.shape[0] == expect[0] and tuple(inputs.shape[2:]) == tuple(expect[2:])
    if not same_grid or inputs.shape[1] not in (1, expect[1]):
        raise ValueError(f"inputs of shape {tuple(inputs.shape)} do not match the prediction's grid {tuple(expect)}")
    return inputs


def boundary_penalty(
    spec: PDESpec,
    u: Tensor,
    kinds: tuple[str, ...],
    mesh: tuple[Tensor, ...],
    method: Literal["fd", "spectral"],
    initial: Tensor | None,
    ic_weight: float,
    bc_weight: float,
) -> Tensor:
    """``sum_bc weight * mean (B u - g)^2`` over every boundary / initial condition of ``spec``.

    ``u`` is ``(B, C, *axes)``; a condition whose value is ``None`` takes the input (initial condition) or, without
    one, the exact solution.
    """
    nd = spec.domain.ndim
    total = u.new_zeros(())
    for bc in spec.bcs:
        weight = ic_weight if bc.kind == "initial" else bc_weight
        if weight == 0:
            continue
        i = spec.domain.index(bc.axis)
        alpha = [0] * nd
        alpha[i] = bc.order
        v = grid_derivative(u, spec.domain, alpha, kinds, method) if bc.order else u
        for side in bc.sides:
            idx = 0 if side == "lower" else -1
            face = v.select(i - nd, idx)
            xf = tuple(xc.select(i, idx) for xc in mesh)
            if bc.kind == "initial" and bc.order == 0 and bc.value is None and initial is not None:
                target = initial
            else:
                target = spec.bc_values(bc, xf)
                if target is None:  # "from the input", but none was given: fall back to the exact solution
                    if spec.exact_solution is None:
                        raise ValueError(f"PDE '{spec.name}': pass the initial condition as `inputs`")
                    target = spec.exact_solution(xf)
            total = total + weight * ((face - target.to(face)) ** 2).mean()
    return total
