"""DataLoaders: the samplers (sharded per process, mixed labelled + unlabelled batches), the
worker set-up, and the training / validation loaders of a run in one place.

An epoch of the labelled set alone may span several passes (``max_iters_per_epoch`` beyond one
pass over a small labelled set), so supervised and semi-supervised runs compare at equal steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..errors import ConfigError
from ..image import single_threaded_cv2
from .batches import LabelledSample, MixedBatch
from .mixed import MixedBatchSampler, MixedDataset, mixed_collate
from .topdown import TopDownDataset

__all__ = ["ShardedSampler", "worker_init", "worker_init_for", "make_loader", "eval_loader", "TrainLoader"]


class ShardedSampler(Sampler[int]):
    """A seeded permutation (or the identity), split into ``world_size`` strided shards.

    Args:
        n: dataset size.
        rank, world_size: this process's shard.
        seed: permutation seed (``None`` keeps the dataset order, e.g. for validation).
        pad: repeat the first indices so every shard has the same length (needed for
            training so all ranks run the same number of steps; not for validation).
    """

    def __init__(self, n: int, rank: int = 0, world_size: int = 1, *, seed: int | None = None, pad: bool = True) -> None:
        self.n, self.rank, self.world, self.seed, self.pad = n, rank, world_size, seed, pad

    def _indices(self) -> list[int]:
        if self.seed is None:
            idx = list(range(self.n))
        else:
            g = torch.Generator().manual_seed(self.seed)
            idx = torch.randperm(self.n, generator=g).tolist()
        if self.pad and self.n % self.world:
            idx += idx[: self.world - self.n % self.world]
        return idx[self.rank :: self.world]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices())

    def __len__(self) -> int:
        return len(self._indices())


def worker_init(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: one torch thread per worker.

    OpenCV is not touched here: ``cv2.setNumThreads`` in a forked child whose parent had
    started OpenCV's thread pool waits forever for threads that do not exist there. The
    workers inherit one OpenCV thread instead, set in the parent just before it forks them
    (:func:`single_threaded_cv2`)."""
    torch.set_num_threads(1)


def worker_init_for(workers: int) -> Callable[[int], None] | None:
    """The DataLoader ``worker_init_fn`` for ``workers`` processes (None for none). With
    workers, OpenCV is set to one thread in this process first, before the fork, so that the
    workers inherit it (see :func:`worker_init`)."""
    if workers <= 0:
        return None
    single_threaded_cv2()
    return worker_init


def make_loader(
    dataset: Dataset[Any], batch_size: int, workers: int, *, sampler: Sampler[int] | None = None, pin_memory: bool = False,
    drop_last: bool = False, shuffle: bool = False, generator: torch.Generator | None = None,
) -> DataLoader[Any]:
    """The one DataLoader set-up: ``workers`` processes with :func:`worker_init_for`, no
    persistent workers (an epoch's loader is made per epoch)."""
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, shuffle=shuffle, num_workers=workers, pin_memory=pin_memory,
        drop_last=drop_last, worker_init_fn=worker_init_for(workers), persistent_workers=False, generator=generator,
    )


def eval_loader(dataset: Dataset[Any], batch_size: int, workers: int, *, rank: int = 0, world_size: int = 1,
                pin_memory: bool = False) -> DataLoader[Any]:
    """Every sample once in dataset order, this process's strided shard of it."""
    n = len(dataset)  # type: ignore[arg-type]
    return make_loader(dataset, batch_size, workers, sampler=ShardedSampler(n, rank, world_size, seed=None, pad=False),
                       pin_memory=pin_memory)


class TrainLoader:
    """The training batches of every epoch: mixed labelled + unlabelled batches for the
    semi-supervised methods, labelled batches otherwise.

    Args:
        labelled: the labelled crops.
        mixed: labelled + unlabelled crops (None: supervised).
        batch_size, unlabeled_batch_size: per process (0: ``batch_size``).
        workers: DataLoader processes.
        seed, rank, world_size: the shuffling and this process's shard.
        max_iters: at most this many steps per epoch (0: one pass; for the labelled set alone
            also the number of steps an epoch spans, over several passes if needed).
        pin_memory: for CUDA.

    Raises:
        ConfigError: the data holds less than one batch.
    """

    def __init__(
        self, labelled: TopDownDataset, mixed: MixedDataset | None, *, batch_size: int, unlabeled_batch_size: int = 0,
        workers: int = 0, seed: int = 0, rank: int = 0, world_size: int = 1, max_iters: int = 0, pin_memory: bool = False,
    ) -> None:
        self.labelled, self.mixed = labelled, mixed
        self.batch_size, self.workers, self.seed = batch_size, workers, seed
        self.rank, self.world_size, self.pin_memory = rank, world_size, pin_memory
        b_unl = unlabeled_batch_size or batch_size
        if mixed is not None:
            self.batches = MixedBatchSampler(
                mixed.num_unlabelled, mixed.num_labelled, b_unl, batch_size, seed=seed, rank=rank, world_size=world_size,
            )
            iters = len(self.batches)
            what = f"{mixed.num_unlabelled} unlabelled instances, fewer than one batch of {b_unl}"
        else:
            want = max_iters * batch_size * world_size
            passes = max(1, -(-want // len(labelled)))
            self.virtual_len = len(labelled) * passes
            iters = len(ShardedSampler(self.virtual_len, rank, world_size, seed=0)) // batch_size
            what = f"{len(labelled)} labelled instances, fewer than one batch of {batch_size}"
        self.iters_per_epoch = min(iters, max_iters) if max_iters else iters
        if self.iters_per_epoch == 0:
            raise ConfigError(f"training set has {what}")

    def epoch(self, epoch: int) -> Iterator[MixedBatch | LabelledSample]:
        """The ``iters_per_epoch`` batches of ``epoch`` (its shuffle and augmentation seeds)."""
        if self.mixed is not None:
            self.mixed.set_epoch(epoch)
            self.batches.set_epoch(epoch)
            loader: DataLoader[Any] = DataLoader(
                self.mixed, batch_sampler=self.batches, num_workers=self.workers, collate_fn=mixed_collate,
                pin_memory=self.pin_memory, worker_init_fn=worker_init_for(self.workers),
            )
        else:
            self.labelled.set_epoch(epoch)
            sampler = ShardedSampler(self.virtual_len, self.rank, self.world_size, seed=self.seed * 100003 + epoch)
            loader = make_loader(self.labelled, self.batch_size, self.workers, sampler=sampler, pin_memory=self.pin_memory, drop_last=True)
        for it, batch in enumerate(loader):
            if it >= self.iters_per_epoch:
                break
            yield batch
