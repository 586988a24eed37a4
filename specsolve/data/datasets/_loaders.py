"""DataLoaders shared by the DataModules: one per split, epoch-seeded shuffling for training."""

from __future__ import annotations

from torch.utils.data import DataLoader, Dataset

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
