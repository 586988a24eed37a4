"""Symmetry augmentation (``data.augmentation``): group laws, consistency of transformed inputs and targets with
equivariant maps (Jacobian, gradient, Laplacian on a periodic grid), per-(seed, epoch, index) draws, exact resume,
untouched validation / test splits, translations only on declared periodic axes, one-line config errors."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from omegaconf import OmegaConf
from sigterm import SendSigterm

from specsolve.config.loading import load_config
from specsolve.data.augmentation import GroupElement, linear_part, transform_field
from specsolve.data.modules.hdf5_fields import FieldDataModule
from specsolve.data.modules.hdf5_windows import WindowDataModule
from specsolve.data.native import NativeWriter, VariableSpec
from specsolve.errors import ConfigError
from specsolve.training.checkpointing import Preempted
from specsolve.training.run import build_datamodule, train

N = 16


def spectral_derivative(f: np.ndarray, axis: int) -> np.ndarray:
    """d/dx_axis of periodic samples ``f(..., x, y)`` on ``[0, 1)^2`` (exact for the band-limited fields used)."""
    k = np.fft.fftfreq(f.shape[axis], d=1.0 / f.shape[axis]) * 2 * np.pi
    shape = [1] * f.ndim
    shape[axis] = -1
    return np.real(np.fft.ifft(1j * k.reshape(shape) * np.fft.fft(f, axis=axis), axis=axis))


def laplacian(f: torch.Tensor) -> torch.Tensor:
    k = torch.fft.fftfreq(f.shape[-1], d=1.0 / f.shape[-1]) * 2 * torch.pi
    symbol = -(k[:, None] ** 2 + k[None, :] ** 2)
    return torch.fft.ifft2(symbol * torch.fft.fft2(f.double())).real


def random_fields(rng: np.random.Generator, n_samples: int) -> np.ndarray:
    """Band-limited periodic fields (modes |k| <= 3) without any symmetry: ``(n_samples, N, N)``."""
    x = np.arange(N) / N
    X, Y = np.meshgrid(x, x, indexing="ij")
    out = np.zeros((n_samples, N, N))
    for k1, k2 in itertools.product(range(-3, 4), repeat=2):
        c = rng.normal(size=(n_samples, 1, 1)) + 1j * rng.normal(size=(n_samples, 1, 1))
        out += np.real(c * np.exp(2j * np.pi * (k1 * X + k2 * Y)))
    return out


@pytest.fixture(scope="module")
def fields(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Per sample: scalars ``a, b``, the Jacobian ``jac = a_x b_y - a_y b_x`` (a pseudoscalar), the gradient
    ``grad_x, grad_y`` of ``a`` (a vector) and a pure x-translation-invariant check field; 12 samples on 16^2."""
    rng = np.random.default_rng(0)
    a, b = random_fields(rng, 12), random_fields(rng, 12)
    ax, ay = spectral_derivative(a, 1), spectral_derivative(a, 2)
    jac = ax * spectral_derivative(b, 2) - ay * spectral_derivative(b, 1)
    path = tmp_path_factory.mktemp("augment") / "fields.h5"
    x = np.arange(N) / N
    names = {"a": a, "b": b, "jac": jac, "grad_x": ax, "grad_y": ay}
    variables = {name: VariableSpec(("sample", "x", "y")) for name in names}
    with NativeWriter(path, coords={"sample": np.arange(12), "x": x, "y": x}, variables=variables) as w:
        for name, values in names.items():
            w.write(name, 0, values.astype(np.float32))
    return path


def module(path: Path, inputs: list[str], outputs: list[str], augmentation: dict | None, **kw) -> FieldDataModule:
    return FieldDataModule(str(path), inputs, outputs, test=str(path), batch_size=4, augmentation=augmentation, **kw)


def items(dm: FieldDataModule, epoch: int = 0) -> dict[int, tuple[torch.Tensor, ...]]:
    """Training items of ``epoch`` by sample index, as the training loader's dataset returns them."""
    dataset = dm.train_dataloader().dataset
    return {i: dataset[(epoch, i)] for i in range(len(dataset))}


def all_elements(shifts: tuple[int, int] = (0, 0)) -> list[GroupElement]:
    return [GroupElement((f, False), k, shifts) for f in (False, True) for k in range(4)]


def test_group_laws() -> None:
    """rot90 four times is the identity, flips and rolls by n are involutive / trivial, and the linear parts
    compose like the transforms (M(rot) is a quarter turn, det M = -1 exactly for reflections)."""
    f = torch.randn(3, 2, N, N, dtype=torch.float64)
    quarter = GroupElement((False, False), 1, (0, 0))
    g = f
    for _ in range(4):
        g = transform_field(g, quarter, (0, 1))
    assert torch.equal(g, f)
    assert not torch.equal(transform_field(f, quarter, (0, 1)), f)
    flip = GroupElement((True, False), 0, (0, 0))
    assert torch.equal(transform_field(transform_field(f, flip, (0, 1)), flip, (0, 1)), f)
    assert torch.equal(transform_field(f, GroupElement((False, False), 0, (N, 0)), (0, 1)), f)
    R = linear_part(quarter, (0, 1))
    assert np.array_equal(np.linalg.matrix_power(R, 4), np.eye(2)) and not np.array_equal(R @ R, np.eye(2))
    for element in all_elements():
        M = linear_part(element, (0, 1))
        assert round(np.linalg.det(M)) == (-1 if element.flips[0] else 1)
        assert np.array_equal(M @ M.T, np.eye(2))
    # a reflection conjugates the rotation to its inverse: F R F = R^-1, also for the field transforms
    frf = transform_field(transform_field(transform_field(f, flip, (0, 1)), quarter, (0, 1)), flip, (0, 1))
    assert torch.equal(frf, transform_field(f, GroupElement((False, False), 3, (0, 0)), (0, 1)))


def test_transforms_commute_with_laplacian() -> None:
    """The periodic Laplacian commutes with every element of p4m and with translations."""
    f = torch.from_numpy(random_fields(np.random.default_rng(1), 2))
    for element in all_elements(shifts=(3, 5)):
        lhs = laplacian(transform_field(f, element, (0, 1)))
        rhs = transform_field(laplacian(f), element, (0, 1))
        assert torch.allclose(lhs, rhs, atol=1e-9)


def test_rotated_targets_match_equivariant_maps(fields: Path) -> None:
    """Augmented samples are samples of the same map: the Jacobian (a pseudoscalar: sign flips under reflections)
    and the gradient (a vector: its components rotate) of the augmented inputs equal the augmented targets."""
    options = {"group": "p4m", "translate": True, "periodic_axes": ["x", "y"], "pseudoscalars": ["jac"]}
    dm = module(fields, ["a", "b"], ["jac"], options)
    seen = set()
    for x, y in items(dm).values():
        a, b = x.double().numpy()
        jac = spectral_derivative(a, 0) * spectral_derivative(b, 1) - spectral_derivative(a, 1) * spectral_derivative(
            b, 0
        )
        np.testing.assert_allclose(jac, y[0].numpy(), atol=2e-4 * np.abs(jac).max())
    for i in range(len(dm.datasets["train"])):
        seen.add(dm.augmentation.draw(dm.seed, 0, i))
    assert len({(e.flips, e.k) for e in seen}) >= 4  # the check ran over several group elements

    options = {"group": "p4m", "vectors": [["grad_x", "grad_y"]]}
    dm = module(fields, ["a"], ["grad_x", "grad_y"], options)
    for x, y in items(dm, epoch=3).values():
        a = x[0].double().numpy()
        np.testing.assert_allclose(spectral_derivative(a, 0), y[0].numpy(), atol=1e-3 * np.abs(a).max())
        np.testing.assert_allclose(spectral_derivative(a, 1), y[1].numpy(), atol=1e-3 * np.abs(a).max())


@pytest.fixture(scope="module")
def trajectories(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 trajectories of 6 band-limited periodic frames ``u(sample, time, x, y)`` on 16^2."""
    path = tmp_path_factory.mktemp("augment_traj") / "traj.h5"
    u = random_fields(np.random.default_rng(2), 4 * 6).reshape(4, 6, N, N)
    x = np.arange(N) / N
    coords = {"sample": np.arange(4), "time": np.arange(6.0), "x": x, "y": x}
    with NativeWriter(path, coords=coords, variables={"u": VariableSpec(("sample", "time", "x", "y"))}) as w:
        w.write("u", 0, u.astype(np.float32))
    return path


def test_window_frames_move_together(trajectories: Path) -> None:
    """hdf5_windows (channels layout): all input and target frames of a window get the same rotation."""
    path = str(trajectories)
    dm = WindowDataModule(path, n_in=3, n_out=2, test=path, batch_size=2, augmentation={"group": "p4"})
    dataset = dm.train_dataloader().dataset
    raw = dm.datasets["train"]
    for i in range(len(raw)):
        element = dm.augmentation.draw(dm.seed, 1, i)
        x_aug, y_aug = dataset[(1, i)]
        x_raw, y_raw = raw[i]
        assert torch.equal(x_aug, torch.rot90(x_raw, element.k, dims=(-2, -1)))
        assert torch.equal(y_aug, torch.rot90(y_raw, element.k, dims=(-2, -1)))


def test_draws_depend_on_seed_epoch_and_index_only(fields: Path) -> None:
    options = {"group": "p4", "translate": True, "periodic_axes": ["x", "y"]}
    first, again = module(fields, ["a"], ["b"], options), module(fields, ["a"], ["b"], options)
    e0, e0_again, e1 = items(first, 0), items(again, 0), items(first, 1)
    assert all(torch.equal(e0[i][0], e0_again[i][0]) and torch.equal(e0[i][1], e0_again[i][1]) for i in e0)
    assert sum(not torch.equal(e0[i][0], e1[i][0]) for i in e0) >= len(e0) - 1
    other_seed = module(fields, ["a"], ["b"], options, seed=5)
    assert any(not torch.equal(e0[i][0], v[0]) for i, v in items(other_seed, 0).items())


def batches(loader) -> list[torch.Tensor]:
    return [torch.cat([x.flatten(1), y.flatten(1)], 1) for x, y in loader]


def test_resume_mid_epoch_gives_the_same_batches(fields: Path) -> None:
    """A loader restored at (epoch 2, 2 batches done), as Lightning does on resume, yields the rest of the
    uninterrupted run's epoch 2, augmentations included, and then the same epoch 3."""
    options = {"group": "p4m", "translate": True, "periodic_axes": ["x", "y"], "pseudoscalars": ["jac"]}
    loader = module(fields, ["a", "b"], ["jac"], options).train_dataloader()
    uninterrupted = {}
    for epoch in (2, 3):
        loader.sampler.set_epoch(epoch)
        uninterrupted[epoch] = batches(loader)
    resumed = module(fields, ["a", "b"], ["jac"], options).train_dataloader()
    resumed.load_state_dict({"epoch": 2, "batches_done": 2})
    rest = batches(resumed)
    assert len(rest) == len(uninterrupted[2]) - 2
    assert all(torch.equal(r, u) for r, u in zip(rest, uninterrupted[2][2:], strict=True))
    resumed.sampler.set_epoch(3)
    assert all(torch.equal(r, u) for r, u in zip(batches(resumed), uninterrupted[3], strict=True))


def test_persistent_workers_see_the_epoch(fields: Path) -> None:
    """With a persistent DataLoader worker (which never sees ``set_epoch``) the batches of epochs 0 and 1 are
    those of the in-process loader: the epoch travels with the sampled indices."""
    options = {"group": "p4", "translate": True, "periodic_axes": ["x", "y"]}
    in_process = module(fields, ["a"], ["b"], options).train_dataloader()
    worker = module(fields, ["a"], ["b"], options, num_workers=1).train_dataloader()
    for epoch in (0, 1):
        in_process.sampler.set_epoch(epoch)
        worker.sampler.set_epoch(epoch)
        assert all(torch.equal(a, b) for a, b in zip(batches(worker), batches(in_process), strict=True))


def test_ddp_sampler_wrapper_keeps_the_draws(fields: Path) -> None:
    """Under DDP Lightning wraps the sampler in ``DistributedSamplerWrapper`` (forwarding ``set_epoch``): the two
    ranks' items of epoch 1 together are exactly the single-process epoch-1 items, augmentations included."""
    from lightning.fabric.utilities.distributed import DistributedSamplerWrapper

    options = {"group": "p4m", "translate": True, "periodic_axes": ["x", "y"]}
    loader = module(fields, ["a"], ["b"], options).train_dataloader()
    expected = items(module(fields, ["a"], ["b"], options), epoch=1)
    seen = {}
    for rank in (0, 1):
        wrapper = DistributedSamplerWrapper(loader.sampler, num_replicas=2, rank=rank, shuffle=False)
        wrapper.set_epoch(1)
        for key in wrapper:
            seen[key[1]] = loader.dataset[key]
            assert key[0] == 1
    assert sorted(seen) == sorted(expected)
    assert all(torch.equal(seen[i][0], expected[i][0]) for i in expected)


class Batches(Callback):
    """Records every training batch's input tensor."""

    def __init__(self, seen: list) -> None:
        self.seen = seen

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.seen.append(batch[0].clone())


def test_sigterm_mid_epoch_resume_matches_uninterrupted(trajectories: Path, tmp_path: Path) -> None:
    """A run of hdf5_windows + p4m/translation augmentation stopped by SIGTERM in the middle of epoch 1 and
    resumed sees the uninterrupted run's batches (rotations included) and ends with its weights."""
    data = {
        "name": "hdf5_windows",
        "train": str(trajectories),
        "test": str(trajectories),
        "n_in": 2,
        "n_out": 1,
        "batch_size": 4,
        "seed": 3,
        "augmentation": {"group": "p4m", "translate": True, "periodic_axes": ["x", "y"], "scalars": ["u"]},
    }
    base = {"seed": 1, "data": data, "model": {"name": "fno", "modes": [3, 3], "width": 4, "layers": 1},
            "optimizer": {"name": "adam", "lr": 3e-3},
            "trainer": {"max_epochs": 2, "deterministic": True, "accelerator": "cpu"}, "logging": {"figures": False}}  # fmt: skip
    cfg = lambda run: OmegaConf.merge(load_config(None, []), base, {"run_dir": str(tmp_path / run)})  # noqa: E731
    steps = 4 * 4 // 4  # 4 trajectories x 4 windows, batch 4
    reference, interrupted = [], []
    train(cfg("reference"), progress=False, callbacks=[Batches(reference)])
    with pytest.raises(Preempted):
        train(cfg("interrupted"), progress=False, callbacks=[Batches(interrupted), SendSigterm(steps + 2)])
    train(cfg("interrupted"), resume=True, progress=False, callbacks=[Batches(interrupted)])
    assert len(interrupted) == len(reference) == 2 * steps
    assert all(torch.equal(a, b) for a, b in zip(interrupted, reference, strict=True))
    ref = torch.load(tmp_path / "reference" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    got = torch.load(tmp_path / "interrupted" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    for key, value in ref.items():
        torch.testing.assert_close(got[key], value, rtol=1e-5, atol=1e-7, msg=key)


def test_ns2d_p4_augmentation_config_is_the_fno_config_plus_rotations() -> None:
    root = Path(__file__).resolve().parents[1] / "configs"
    aug, plain = (OmegaConf.to_container(OmegaConf.load(root / n)) for n in ("ns2d_fno_p4aug.yaml", "ns2d_fno.yaml"))
    assert aug["data"].pop("augmentation") == {"group": "p4"}
    assert aug == plain


def test_validation_and_test_splits_are_untouched(fields: Path) -> None:
    dm = module(fields, ["a"], ["b"], {"group": "p4m"})
    raw = dm.datasets["test"]
    for loader in (dm.val_dataloader(), dm.test_dataloader()):
        x, y = next(iter(loader))
        assert torch.equal(x, torch.stack([raw[i][0] for i in range(len(x))]))
    train_x = torch.stack([v[0] for v in items(dm).values()])
    plain_x = torch.stack([dm.datasets["train"][i][0] for i in range(len(train_x))])
    assert not torch.equal(train_x, plain_x)  # the training split is augmented
    assert dm.normalization_statistics()["x_mean"].shape == (1,)


def test_translations_only_on_declared_periodic_axes(fields: Path) -> None:
    dm = module(fields, ["a"], ["b"], {"translate": True, "periodic_axes": ["x"]})
    raw = dm.datasets["train"]
    shifted = 0
    for i, (x, _) in items(dm).items():
        element = dm.augmentation.draw(dm.seed, 0, i)
        assert element.shifts[1] == 0 and element.k == 0 and not any(element.flips)
        assert torch.equal(x, torch.roll(raw[i][0], element.shifts[0], dims=-2))
        shifted += element.shifts[0] != 0
    assert shifted >= len(raw) // 2
    with pytest.raises(ConfigError, match="periodic_axes"):
        module(fields, ["a"], ["b"], {"translate": True})


@pytest.mark.parametrize(
    ("augmentation", "message"),
    [
        ({"group": "p5"}, "key 'group' expects"),
        ({"group": "p4", "plan": ["x", "y"]}, "did you mean 'plane'"),
        ({"group": "p4", "plane": ["x", "t"]}, "'t' is not a spatial dim"),
        ({"group": "trivial"}, "does nothing"),
        ({"group": "p4", "vectors": [["grad_x"]]}, "one variable per spatial dim"),
    ],
)
def test_bad_options_are_one_line_config_errors(fields: Path, augmentation: dict, message: str) -> None:
    cfg = OmegaConf.create({"data": {"name": "hdf5", "train": str(fields), "inputs": ["a"], "outputs": ["b"]}})
    cfg.data.augmentation = augmentation
    with pytest.raises(ConfigError, match=message) as info:
        build_datamodule(cfg)
    assert "\n" not in str(info.value)


def test_vector_components_must_be_declared(fields: Path) -> None:
    with pytest.raises(ConfigError, match="'grad_x' is named like a vector component"):
        module(fields, ["a"], ["grad_x", "grad_y"], {"group": "p4"})
    with pytest.raises(ConfigError, match="not the component 'grad_y'"):
        module(fields, ["a"], ["grad_x"], {"group": "p4", "vectors": [["grad_x", "grad_y"]]})
    module(fields, ["a"], ["grad_x"], {"translate": True, "periodic_axes": ["x", "y"]})  # shifts: any field


def test_rotations_need_a_square_grid(tmp_path: Path) -> None:
    path = tmp_path / "rect.h5"
    coords = {"sample": np.arange(2), "x": np.arange(8) / 8, "y": np.arange(4) / 4}
    with NativeWriter(path, coords=coords, variables={"u": VariableSpec(("sample", "x", "y"))}) as w:
        w.write("u", 0, np.zeros((2, 8, 4), np.float32))
    with pytest.raises(ConfigError, match="square grid"):
        module(path, ["u"], ["u"], {"group": "p4"})
    module(path, ["u"], ["u"], {"group": "flips"})  # reflections need no square grid
