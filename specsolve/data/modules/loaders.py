"""Parts shared by the DataModules: DataLoaders per split (epoch-seeded shuffling for training) and the handling of
splits stored as several trajectory files (shards)."""

from __future__ import annotations

from typing import Any

from torch.utils.data import ConcatDataset, DataLoader, Dataset

from specsolve.data.sampling import EpochSeededSampler


class SplitLoaders:
    """Mixin for a ``LightningDataModule`` with ``datasets`` (split -> Dataset), ``_train_subset()``,
    ``batch_size``, ``num_workers`` and ``seed``: builds the train / val / test DataLoaders."""

    datasets: dict[str, Dataset]
    batch_size: int
    num_workers: int
    seed: int

    def _train_subset(self) -> Dataset:
        return self.datasets["train"]

    def _loader(self, split: str, shuffle: bool) -> DataLoader | None:
        dataset = self._train_subset() if split == "train" else self.datasets.get(split)
        if dataset is None:
            return None
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=EpochSeededSampler(len(dataset), self.seed) if shuffle else None,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader("val", shuffle=False) or []

    def test_dataloader(self) -> DataLoader | list:
        return self._loader("test", shuffle=False) or []


class TrajectoryShards:
    """Mixin for a DataModule whose splits are lists of per-file trajectory datasets (``self._parts``: split -> list,
    each with ``n_trajectories``, ``info`` and ``spatial_shape``) and an optional ``n_train`` trajectory budget."""

    _parts: dict[str, list[Any]]
    n_train: int | None

    @staticmethod
    def _merge(parts: list[Any]) -> Dataset:
        """One dataset over the shards of a split, describing itself like its first part."""
        if len(parts) == 1:
            return parts[0]
        merged = ConcatDataset(parts)
        merged.info = parts[0].info  # type: ignore[attr-defined]  # shared description (dims, channels, coords)
        merged.spatial_shape = parts[0].spatial_shape  # type: ignore[attr-defined]
        return merged

    def _train_counts(self) -> list[tuple[Any, int]]:
        """(part, number of its trajectories used) for the training split, honouring ``n_train``."""
        left = self.n_train if self.n_train is not None else float("inf")
        counts = []
        for part in self._parts["train"]:
            n = int(min(part.n_trajectories, left))
            if n > 0:
                counts.append((part, n))
            left -= n
        return counts
