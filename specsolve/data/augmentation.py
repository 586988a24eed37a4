"""Symmetry augmentation of training samples: the same random group element applied to inputs and targets.

A group element ``g = (flips, k, shifts)`` acts on a field ``f`` sampled on the grid by ``f -> T_g f``: reflect
``f`` along every spatial axis in ``flips`` (index ``p -> n - 1 - p``), rotate it by ``k`` quarter turns in the
``plane`` (``torch.rot90(k, dims=plane)``, square grids only), then roll it by ``shifts`` grid points along the
periodic axes. Its linear part ``M = R^k F`` (a signed permutation of the spatial axes; ``R e_a = e_b``,
``R e_b = -e_a`` for the plane ``(a, b)``, ``F`` negates the flipped axes) also acts on the channels:

- scalar fields: ``T_g f`` (the default);
- pseudoscalars (2-D vorticity): ``det(M) T_g f`` (a reflection flips the sign);
- vector fields, declared as one variable per spatial component in the order of the spatial dims:
  ``v'_i = sum_j M_ij T_g v_j`` (rotating a velocity field rotates its components).

A variable with a non-spatial axis other than time (components stacked in one array), or named like a component
(``*_x``, ``*_y``, ``*_z``), must be declared (``vectors``, ``scalars`` or ``pseudoscalars``) before rotations or
flips are allowed: a ConfigError says so.

Groups: ``trivial`` (translations only), ``flips`` (each axis of ``flip_axes`` reflected with probability 1/2),
``p4`` (``k`` uniform in 0..3), ``p4m`` (``p4`` and a reflection of the plane's first axis with probability 1/2).
``translate: true`` draws every shift uniformly in ``0..n-1`` on each axis of ``periodic_axes`` (only declared
periodic axes are shifted). The element of training sample ``i`` in epoch ``e`` is drawn from
``numpy.random.default_rng([seed, e, i])``: it depends on nothing else (not on workers, batch order or a resume).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from specsolve.data.sampling import EpochSeededSampler
from specsolve.errors import ConfigError
from specsolve.registry.signature import validate_params

Group = Literal["trivial", "flips", "p4", "p4m"]
ChannelKey = tuple[str, str, int, int]  # (variable, time selection, offset in the selector, repeat)


@dataclass(frozen=True)
class GroupElement:
    """``flips`` (one bool per spatial axis), ``k`` quarter turns in the plane, ``shifts`` (grid points per axis)."""

    flips: tuple[bool, ...]
    k: int
    shifts: tuple[int, ...]


def linear_part(element: GroupElement, plane: tuple[int, int] | None) -> np.ndarray:
    """``M = R^k F``: the signed permutation ``(d, d)`` by which the element maps spatial directions."""
    d = len(element.flips)
    M = np.diag([-1 if f else 1 for f in element.flips]).astype(int)
    if plane is not None:
        a, b = plane
        R = np.eye(d, dtype=int)
        R[:, [a, b]] = 0
        R[b, a], R[a, b] = 1, -1
        M = np.linalg.matrix_power(R, element.k % 4) @ M
    return M


def transform_field(field: Tensor, element: GroupElement, plane: tuple[int, int] | None) -> Tensor:
    """``T_g f`` on the last ``d`` (spatial) axes of ``field``: flips, then ``rot90(k)`` in ``plane``, then rolls."""
    d = len(element.flips)
    axes = [field.dim() - d + i for i in range(d)]
    flipped = [axes[i] for i, f in enumerate(element.flips) if f]
    out = field.flip(flipped) if flipped else field
    if element.k % 4:
        if plane is None:
            raise ValueError("a rotation needs a plane")
        out = torch.rot90(out, element.k, dims=(axes[plane[0]], axes[plane[1]]))
    moved = [(s, axes[i]) for i, s in enumerate(element.shifts) if s]
    if moved:
        out = torch.roll(out, [s for s, _ in moved], [a for _, a in moved])
    return out


def channel_keys(info: Any, selectors: Sequence[str], repeat: int = 1) -> list[ChannelKey]:
    """One key per channel of a tensor whose channel axis holds ``repeat`` copies (time-major) of the selectors'
    channels concatenated (``info``: a :class:`~specsolve.data.fields.FileLayout`)."""
    keys = []
    for r in range(repeat):
        for text in selectors:
            name = info.selection[text][0]
            keys += [(name, text[len(name) :], offset, r) for offset in range(info.channels[text])]
    return keys


class ChannelAction:
    """How a group element acts on the channel axis of one tensor: ``out[c] = sign * in[source]`` per channel."""

    def __init__(self, keys: list[ChannelKey], vectors: list[list[str]], pseudoscalars: set[str], tensor: str):
        self.keys = keys
        position = {key: c for c, key in enumerate(keys)}
        component = {name: (g, i) for g, group in enumerate(vectors) for i, name in enumerate(group)}
        self.pseudo = [key[0] in pseudoscalars for key in keys]
        self.partners: list[list[int] | None] = []  # per channel: the channels of its vector's components
        for name, selection, offset, r in keys:
            if name not in component:
                self.partners.append(None)
                continue
            g, _ = component[name]
            partners = []
            for other in vectors[g]:
                key = (other, selection, offset, r)
                if key not in position:
                    raise ConfigError(
                        f"data.augmentation.vectors: {tensor} holds '{name}{selection}' but not the component "
                        f"'{other}{selection}' of the same vector"
                    )
                partners.append(position[key])
            self.partners.append(partners)
        self.component = component

    def __call__(self, values: Tensor, M: np.ndarray, channel_axis: int) -> Tensor:
        det = int(round(np.linalg.det(M)))
        sources, signs = [], []
        for c, (name, *_rest) in enumerate(self.keys):
            partners = self.partners[c]
            if partners is not None:
                i = self.component[name][1]
                j = int(np.flatnonzero(M[i])[0])
                sources.append(partners[j])
                signs.append(int(M[i, j]))
            else:
                sources.append(c)
                signs.append(det if self.pseudo[c] else 1)
        if sources == list(range(len(sources))) and all(s == 1 for s in signs):
            return values
        out = values.index_select(channel_axis, torch.tensor(sources))
        shape = [1] * values.dim()
        shape[channel_axis] = len(signs)
        return out * torch.tensor(signs, dtype=values.dtype).view(shape)


class SymmetryAugmentation:
    """The ``data.augmentation`` options (see the module docstring).

    Parameters
    ----------
    group : ``trivial``, ``flips``, ``p4`` or ``p4m``.
    plane : the two spatial dims rotated by ``p4`` / ``p4m`` (default: the last two); they must have equal sizes.
    flip_axes : the spatial dims reflected by ``flips`` (default: all).
    translate : random periodic shifts along ``periodic_axes``.
    periodic_axes : the spatial dims on which the data are periodic (required by ``translate``).
    vectors : groups of variables, each the components of one vector along the spatial dims, in their order.
    pseudoscalars : variables whose sign flips under a reflection (2-D vorticity).
    scalars : variables declared scalar although they carry an extra axis or a component-like name.
    """

    def __init__(
        self,
        group: Group = "trivial",
        plane: list[str] | None = None,
        flip_axes: list[str] | None = None,
        translate: bool = False,
        periodic_axes: list[str] | None = None,
        vectors: list[list[str]] | None = None,
        pseudoscalars: list[str] | None = None,
        scalars: list[str] | None = None,
    ) -> None:
        self.group, self.translate = group, translate
        self.plane_dims, self.flip_dims = plane, flip_axes
        self.periodic_dims = list(periodic_axes or [])
        self.vectors = [list(v) for v in vectors or []]
        self.pseudoscalars, self.scalars = set(pseudoscalars or []), set(scalars or [])
        if translate and not self.periodic_dims:
            raise ConfigError("data.augmentation.translate needs periodic_axes (the spatial dims that are periodic)")
        if group == "trivial" and not translate:
            raise ConfigError("data.augmentation: group 'trivial' without translate does nothing; drop the option")

    def bind(
        self, info: Any, spatial_shape: Sequence[int], x_keys: list[ChannelKey], y_keys: list[ChannelKey]
    ) -> BoundAugmentation:
        """Check the options against the data (dims, grid, variables) and fix the channel actions."""
        dims = list(info.spatial_dims)

        def axis(name: str, option: str) -> int:
            if name not in dims:
                raise ConfigError(f"data.augmentation.{option}: '{name}' is not a spatial dim of the data {dims}")
            return dims.index(name)

        plane = None
        if self.group in ("p4", "p4m"):
            names = self.plane_dims or dims[-2:]
            if len(names) != 2 or len(set(names)) != 2:
                raise ConfigError(f"data.augmentation.plane must name two spatial dims of {dims}, got {names}")
            plane = (axis(names[0], "plane"), axis(names[1], "plane"))
            if spatial_shape[plane[0]] != spatial_shape[plane[1]]:
                raise ConfigError(
                    f"data.augmentation.group={self.group} rotates the plane {names}, which needs a square grid; "
                    f"the grid is {tuple(spatial_shape)}"
                )
        flip_axes: list[int] = []
        if self.group == "flips":
            flip_axes = [axis(n, "flip_axes") for n in (self.flip_dims or dims)]
        elif self.group == "p4m":
            flip_axes = [plane[0]]  # type: ignore[index]
        periodic = [axis(n, "periodic_axes") for n in self.periodic_dims] if self.translate else []
        for group in self.vectors:
            if len(group) != len(dims):
                raise ConfigError(
                    f"data.augmentation.vectors: {group} must list one variable per spatial dim {dims}, in order"
                )
        if self.group != "trivial":
            declared = {n for g in self.vectors for n in g} | self.pseudoscalars | self.scalars
            for text, name_dims in info.dims.items():
                name = info.selection[text][0]
                if name in declared or not info.on_grid[text]:
                    continue
                extra = [d for d in name_dims if d not in dims and d != "time"]
                suffix = name.rsplit("_", 1)[-1] if "_" in name else ""
                if extra or suffix in dims or suffix in ("x", "y", "z"):
                    why = f"has the non-spatial axis {extra}" if extra else "is named like a vector component"
                    raise ConfigError(
                        f"data.augmentation: variable '{name}' {why}; rotations and flips need to know how it "
                        "transforms: declare it in vectors (one variable per component), pseudoscalars or scalars"
                    )
        actions = [ChannelAction(k, self.vectors, self.pseudoscalars, t) for k, t in ((x_keys, "x"), (y_keys, "y"))]
        return BoundAugmentation(self.group, plane, flip_axes, periodic, tuple(spatial_shape), actions)


class BoundAugmentation:
    """Symmetry augmentation fixed to one dataset's grid and channels: :meth:`draw` an element, :meth:`apply` it."""

    def __init__(
        self,
        group: str,
        plane: tuple[int, int] | None,
        flip_axes: list[int],
        periodic_axes: list[int],
        spatial_shape: tuple[int, ...],
        actions: list[ChannelAction],
    ) -> None:
        self.group, self.plane, self.flip_axes, self.periodic_axes = group, plane, flip_axes, periodic_axes
        self.spatial_shape, self.actions = spatial_shape, actions

    def draw(self, seed: int, epoch: int, index: int) -> GroupElement:
        """The element of sample ``index`` in epoch ``epoch``: a function of ``(seed, epoch, index)`` only."""
        rng = np.random.default_rng([seed % 2**63, epoch, index])
        d = len(self.spatial_shape)
        flips = [False] * d
        k = int(rng.integers(4)) if self.group in ("p4", "p4m") else 0
        for a in self.flip_axes:
            flips[a] = bool(rng.integers(2))
        shifts = [0] * d
        for a in self.periodic_axes:
            shifts[a] = int(rng.integers(self.spatial_shape[a]))
        return GroupElement(tuple(flips), k, tuple(shifts))

    def apply(self, element: GroupElement, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """``(g x, g y)``: fields ``(..., C, *S)`` with channels on the axis before the spatial ones."""
        M = linear_part(element, self.plane)
        d = len(self.spatial_shape)
        out = []
        for values, action in zip((x, y), self.actions, strict=True):
            moved = transform_field(values, element, self.plane)
            out.append(action(moved, M, values.dim() - d - 1))
        return out[0], out[1]


def build_augmentation(
    options: Mapping[str, Any] | None,
    info: Any,
    spatial_shape: Sequence[int],
    x_keys: list[ChannelKey],
    y_keys: list[ChannelKey],
) -> BoundAugmentation | None:
    """``data.augmentation`` (a mapping of :class:`SymmetryAugmentation`'s options, or None) bound to the data."""
    if options is None:
        return None
    if not isinstance(options, Mapping):
        raise ConfigError(f"data.augmentation must be a mapping of options, got {options!r}")
    params = validate_params(SymmetryAugmentation, dict(options), "data.augmentation")
    return SymmetryAugmentation(**params).bind(info, spatial_shape, x_keys, y_keys)


class EpochTaggedSampler(EpochSeededSampler):
    """:class:`EpochSeededSampler` yielding ``(epoch, index)``, so that the epoch reaches the dataset (also in
    persistent DataLoader workers, which never see ``set_epoch``)."""

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        epoch = self.epoch
        return ((epoch, i) for i in super().__iter__())


class AugmentedDataset(Dataset):
    """Items ``(x, y, *rest)`` of ``dataset`` with ``(x, y)`` transformed by the element drawn for
    ``(seed, epoch, index)``; keys are ``(epoch, index)`` (from :class:`EpochTaggedSampler`) or a plain index
    (epoch 0)."""

    def __init__(self, dataset: Dataset, augmentation: BoundAugmentation, seed: int) -> None:
        self.dataset, self.augmentation, self.seed = dataset, augmentation, seed

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: int | tuple[int, int]) -> tuple:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        return self._transformed(epoch, index, self.dataset[index])

    def __getitems__(self, keys: list[int | tuple[int, int]]) -> list[tuple]:
        """A batch through the wrapped dataset's batched fetch when it has one; each item as ``self[key]``."""
        tagged = [key if isinstance(key, tuple) else (0, key) for key in keys]
        fetch = getattr(self.dataset, "__getitems__", None)
        indices = [index for _, index in tagged]
        items = fetch(indices) if callable(fetch) else [self.dataset[i] for i in indices]
        return [self._transformed(epoch, index, item) for (epoch, index), item in zip(tagged, items)]

    def _transformed(self, epoch: int, index: int, item: tuple) -> tuple:
        x, y, *rest = item
        element = self.augmentation.draw(self.seed, epoch, index)
        return (*self.augmentation.apply(element, x, y), *rest)
