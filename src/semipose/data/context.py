"""Unlabelled crops with their neighbouring video frames, for the temporal term
(``ssl.temporal``): each crop of frame ``t`` comes with frames ``t − g`` and ``t + g`` of the same
video, cropped by the *same* draw (box, scale, rotation, flip), so a joint's movement between
the three crops is the animal's movement, not the augmentation's.

Frames are named by the one rule of :mod:`semipose.video` (``clip.mp4#12``); a neighbour past
either end of the video is the nearest frame inside it. A crop of a still image has no
neighbours: it stands for its own (no movement, so no temporal term), and the dataset counts
such crops (:attr:`FrameTupleDataset.stills`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..image import ImageCache
from ..video import count_frames, frame_ref, parse_frame_ref
from .records import PoseRecord
from .topdown import TopDownDataset, TopDownTransform

__all__ = ["FrameTupleDataset", "video_lengths"]


def video_lengths(records: Sequence[PoseRecord]) -> dict[str, int]:
    """The decoded frame count of every video the records' frames come from (each video decoded once)."""
    videos = {ref[0] for r in records if (ref := parse_frame_ref(r.image_path)) is not None}
    return {v: count_frames(v) for v in sorted(videos)}


class FrameTupleDataset(TopDownDataset):
    """:class:`~semipose.data.topdown.TopDownDataset` whose items also hold ``context``
    ``(2, 3, H, W)``: the frames ``gap`` before and after, cropped like the item's ``image``.

    Args:
        records, transform, seed, images: as :class:`~semipose.data.topdown.TopDownDataset`.
        gap: frames between the centre and each neighbour (≥ 1).
        lengths: frames per video (:func:`video_lengths`; computed when None).
    """

    def __init__(self, records: Sequence[PoseRecord], transform: TopDownTransform, *, gap: int = 1, seed: int = 0,
                 images: ImageCache | None = None, lengths: Mapping[str, int] | None = None) -> None:
        super().__init__(records, transform, seed=seed, images=images)
        if isinstance(gap, bool) or not isinstance(gap, int) or gap < 1:
            raise ConfigError(f"the frame gap of the temporal term must be an int ≥ 1, got {gap!r}")
        self.gap = gap
        self.lengths = dict(lengths) if lengths is not None else video_lengths(self.records)
        self._refs = [parse_frame_ref(r.image_path) for r in self.records]
        #: crops of still images (no neighbouring frames: no temporal term for them)
        self.stills = sum(ref is None for ref in self._refs)

    def neighbours(self, index: int) -> tuple[str, str] | None:
        """The frame names before and after record ``index`` (None for a still image)."""
        ref = self._refs[index % len(self.records)]
        if ref is None:
            return None
        video, t = ref
        last = max(self.lengths.get(video, t + 1) - 1, 0)
        return frame_ref(video, max(t - self.gap, 0)), frame_ref(video, min(t + self.gap, last))

    def __getitem__(self, index: int) -> dict[str, Any]:
        """The centre crop's sample (as :class:`~semipose.data.topdown.TopDownDataset`, the same
        random draw) plus ``context``."""
        rec = self.records[index % len(self.records)]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if self.transform.train:
            params = self.transform.draw_params(rec, rng)
        else:
            center, scale = self.transform.crop_box(rec)
            params = {"center": center, "scale": scale, "rotation": 0.0, "flip": False}
        near = self.neighbours(index)
        if near is None:
            sample: dict[str, Any] = dict(self.transform(self.images.read(rec.image_path), rec, params=params))
            crops = [sample["image"], sample["image"]]
        else:  # read in frame order: one pass of the decoder
            before = self.transform(self.images.read(near[0]), rec, params=params)["image"]
            sample = dict(self.transform(self.images.read(rec.image_path), rec, params=params))
            crops = [before, self.transform(self.images.read(near[1]), rec, params=params)["image"]]
        sample["context"] = torch.stack(crops)
        sample["index"] = torch.tensor(index, dtype=torch.int64)
        return sample
