"""The PDE specification shared by losses, GP solvers and data generators.

A problem is ``R[u] = L u + sum_i N_i[u] - f = 0`` on a box :class:`~specsolve.pde.domain.Domain`, with

- ``linear``: the constant-coefficient part ``L = sum_alpha c_alpha d^alpha`` (:class:`LinearOperator`), which
  gives ``fourier_symbol(k)`` (``d -> 2 pi i k / L``) and ``polynomial(z)`` (``d -> z``, EPGP);
- ``nonlinear``: pointwise terms ``N_i = fn(d)`` of derivatives (``u u_x``, ``u (u^2 - 1)``, ``v . grad w``, variable
  coefficients), where ``d`` maps keys to tensors on a common grid;
- ``source``: ``f(x)``, a callable of the coordinate tuple, or the model input (``input_role="source"``);
- ``bcs``: Dirichlet / Neumann / initial conditions on non-periodic axes (periodic axes need none);
- ``aux``: auxiliary fields defined by a linear relation on periodic axes, e.g. the stream function ``-lap psi = w``.

**Derivative keys** (:mod:`specsolve.pde.keys`). ``(field, alpha)`` with ``alpha`` a multi-index of derivative orders per axis (domain order,
time first). A bare multi-index means the solution field ``"u"``: ``d[0, 2]`` is ``u_xx`` on axes ``(t, x)``,
``d["psi", (0, 0, 1)]`` is ``psi_y`` on ``(t, x, y)``, ``d["a", (0, 1)]`` the x-derivative of the input field ``a``.

**Callables** (``source``, ``exact_solution``, boundary values) take the tuple of full coordinate arrays
(``Domain.mesh``) and return a tensor of the same shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch
from torch import Tensor

from specsolve.pde.autograd import autograd_derivatives
from specsolve.pde.domain import Domain
from specsolve.pde.keys import Derivatives, Key, as_key
from specsolve.pde.operators import LinearOperator

Coords = tuple[Tensor, ...]
FieldFn = Callable[[Coords], Tensor]


@dataclass(frozen=True)
class PointwiseTerm:
    """A pointwise term ``fn(d)`` of derivative tensors ``d[key]`` for ``key in needs``.

    ``linear_in_u``: the term is linear in the solution (a variable-coefficient term such as Darcy's
    ``-(a u_x)_x``), so the PDE can still be linear.
    """

    fn: Callable[[Derivatives], Tensor]
    needs: tuple[Key, ...]
    linear_in_u: bool = False
    text: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "needs", tuple(as_key(k) for k in self.needs))


@dataclass(frozen=True)
class AuxField:
    """Auxiliary field ``psi`` with ``lhs psi = rhs u`` on periodic axes, solved in Fourier space with the
    ``lhs(k) = 0`` modes set to zero (e.g. the stream function: ``lhs = -lap``, ``rhs = identity``)."""

    name: str
    lhs: LinearOperator
    rhs: LinearOperator

    def multiplier(self, k: Sequence[Tensor], lengths: Sequence[float], n: Sequence[int] | None = None) -> Tensor:
        """``rhs(k) / lhs(k)`` with zeros where ``lhs(k) = 0``."""
        a = self.lhs.fourier_symbol(k, lengths, n)
        b = self.rhs.fourier_symbol(k, lengths, n)
        safe = torch.where(a == 0, torch.ones_like(a), a)
        return torch.where(a == 0, torch.zeros_like(a), b / safe)


@dataclass(frozen=True)
class BoundaryCondition:
    """A condition on the face(s) of a non-periodic axis.

    - ``dirichlet``: ``u = value``; ``neumann``: ``d u / d x_axis = value`` (derivative along the axis, not the outward
      normal); ``initial``: ``d^order u / d t^order = value`` at the lower end of the time axis.
    - ``value``: a number, a callable of the coordinate tuple (evaluated on the face), or ``None``: taken from the
      model input (``input_role="initial_condition"``) or else from ``exact_solution``.
    """

    kind: Literal["dirichlet", "neumann", "initial"]
    axis: str
    side: Literal["lower", "upper", "both"] = "both"
    value: float | FieldFn | None = 0.0
    order: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("dirichlet", "neumann", "initial"):
            raise ValueError(f"unknown boundary condition kind '{self.kind}'")
        if self.kind == "initial" and self.side != "lower":
            object.__setattr__(self, "side", "lower")
        if self.kind == "neumann" and self.order == 0:
            object.__setattr__(self, "order", 1)

    @property
    def sides(self) -> tuple[str, ...]:
        return ("lower", "upper") if self.side == "both" else (self.side,)


@dataclass(frozen=True)
class PDESpec:
    """``L u + sum(nonlinear) - f = 0`` on ``domain`` (see the module docstring for every field)."""

    name: str
    domain: Domain
    linear: LinearOperator
    nonlinear: tuple[PointwiseTerm, ...] = ()
    source: FieldFn | None = None
    bcs: tuple[BoundaryCondition, ...] = ()
    exact_solution: FieldFn | None = None
    aux: tuple[AuxField, ...] = ()
    input_role: Literal["source", "initial_condition", "coefficient"] | None = None
    input_name: str = "a"
    params: Mapping[str, float] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "nonlinear", tuple(self.nonlinear))
        object.__setattr__(self, "bcs", tuple(self.bcs))
        object.__setattr__(self, "aux", tuple(self.aux))
        object.__setattr__(self, "params", dict(self.params))
        if self.linear.ndim not in (None, self.domain.ndim):
            raise ValueError(f"linear operator acts on {self.linear.ndim} axes, domain has {self.domain.ndim}")
        if self.input_role not in (None, "source", "initial_condition", "coefficient"):
            raise ValueError(f"unknown input_role '{self.input_role}'")
        fields = {"u", self.input_name, *(a.name for a in self.aux)}
        for term in self.nonlinear:
            for f, alpha in term.needs:
                if f not in fields or len(alpha) != self.domain.ndim:
                    raise ValueError(f"term '{term.text}' needs unknown derivative {(f, alpha)}")
        for bc in self.bcs:
            axis = self.domain.axes[self.domain.index(bc.axis)]
            if axis.periodic:
                raise ValueError(f"axis '{bc.axis}' is periodic: it takes no boundary condition")
            if (bc.kind == "initial") != axis.is_time:
                raise ValueError("'initial' conditions go on the time axis, and only there")

    # -- flags ------------------------------------------------------------------------------------
    @property
    def is_linear(self) -> bool:
        return all(t.linear_in_u for t in self.nonlinear)

    @property
    def is_constant_coefficient(self) -> bool:
        """No pointwise terms: the whole operator is ``linear`` (Fourier-diagonal on periodic axes, EPGP-eligible)."""
        return not self.nonlinear

    @property
    def is_homogeneous(self) -> bool:
        return self.source is None and self.input_role != "source"

    @property
    def is_time_dependent(self) -> bool:
        return self.domain.time_axis is not None

    @property
    def periodic_axes(self) -> tuple[str, ...]:
        return tuple(self.domain.names[i] for i in self.domain.periodic_axes)

    # -- derivatives and residual -----------------------------------------------------------------
    def required_derivatives(self) -> tuple[Key, ...]:
        """Every derivative key the residual needs (linear part first, then the pointwise terms)."""
        keys: list[Key] = [("u", a) for a in self.linear.required_derivatives()]
        for term in self.nonlinear:
            keys += [k for k in term.needs if k not in keys]
        return tuple(dict.fromkeys(keys))

    def fourier_symbol(self, k: Sequence[Tensor], n: Sequence[int | None] | None = None) -> Tensor:
        """Symbol of the linear part, ``d -> 2 pi i k / L`` with the domain's lengths."""
        return self.linear.fourier_symbol(k, self.domain.lengths, n)

    def polynomial(self, z: Sequence[Tensor | complex]) -> Tensor:
        """``A(z)`` of the linear part, ``d -> z`` (EPGP)."""
        return self.linear.polynomial(z)

    def source_values(self, x: Coords) -> Tensor | None:
        return None if self.source is None else self.source(x)

    def residual(self, d: Mapping[Any, Tensor], x: Coords | None = None, source: Tensor | None = None) -> Tensor:
        """``R = L u + sum N_i(d) - f`` from precomputed derivatives ``d`` (keys as in :meth:`required_derivatives`).

        ``f`` is ``source`` if given, else ``self.source(x)`` (needs ``x``), else zero.
        """
        d = d if isinstance(d, Derivatives) else Derivatives(d)
        out: Tensor | float = 0.0
        for alpha, c in self.linear.terms.items():
            c = complex(c)
            out = out + (c.real if c.imag == 0 else c) * d["u", alpha]
        for term in self.nonlinear:
            out = out + term.fn(d)
        if source is None and self.source is not None:
            if x is None:
                raise ValueError(f"PDE '{self.name}' has a source f(x): pass the coordinates x")
            source = self.source(x)
        if source is not None:
            out = out - source
        if not isinstance(out, Tensor):
            raise ValueError("empty PDE: no terms")
        return out

    # -- boundary data ----------------------------------------------------------------------------
    def bc_values(self, bc: BoundaryCondition, x: Coords) -> Tensor | None:
        """The target of ``bc`` on coordinates ``x`` (already restricted to the face); ``None``: from the input."""
        if callable(bc.value):
            return bc.value(x)
        if bc.value is not None:
            return torch.full_like(x[0], float(bc.value))
        if bc.kind == "initial" and self.input_role == "initial_condition" and bc.order == 0:
            return None
        if self.exact_solution is not None:
            if bc.order == 0:
                return self.exact_solution(x)
            alpha = [0] * self.domain.ndim
            alpha[self.domain.index(bc.axis)] = bc.order
            return autograd_derivatives(self.exact_solution, x, [tuple(alpha)])[tuple(alpha)]
        raise ValueError(f"PDE '{self.name}': boundary value for {bc.kind} on '{bc.axis}' is undefined")

    # -- builders ---------------------------------------------------------------------------------
    def with_(self, **changes: Any) -> PDESpec:
        """A copy with some fields replaced (``dataclasses.replace``)."""
        return replace(self, **changes)

    def manufactured(self, exact: FieldFn) -> PDESpec:
        """Manufactured problem: ``exact`` becomes the exact solution and ``f = L u + sum N_i(u)`` (by autograd), the
        boundary values default to the exact solution, and the input role ``source`` is dropped."""
        if self.aux or any(f != "u" for t in self.nonlinear for f, _ in t.needs):
            raise ValueError(f"PDE '{self.name}': manufactured sources need local terms of u only")
        base = replace(self, source=None, input_role=None)
        keys = base.required_derivatives()

        def source(x: Coords) -> Tensor:
            d = autograd_derivatives(exact, x, keys)
            return base.residual(d).detach()

        bcs = tuple(replace(bc, value=None) for bc in self.bcs)
        role = None if self.input_role in ("source", "initial_condition") else self.input_role
        return replace(self, source=source, exact_solution=exact, bcs=bcs, input_role=role)

    def __repr__(self) -> str:
        axes = " x ".join(
            f"{a.name}[{a.bounds[0]:g},{a.bounds[1]:g}{')' if a.periodic else ']'}" for a in self.domain.axes
        )
        return f"PDESpec('{self.name}': {self.description or '...'} on {axes})"
