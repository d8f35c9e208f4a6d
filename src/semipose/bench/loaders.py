"""Benchmarks of the loaders: the training data pipeline, and the unlabelled loader on video
frames (single frames vs frame tuples)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ..codec import HeatmapCodec

__all__ = ["bench_data", "bench_frames"]


def _timed_batches(loader: Any, batches: int, at_start: Callable[[], None] | None = None) -> tuple[int, float]:
    """``(samples, seconds)`` of ``batches`` batches of ``loader`` (epochs repeated as needed),
    timed from the end of the first batch (worker start-up not counted); ``at_start`` runs then."""
    n, t0, it = 0, None, 0
    while it < batches + 1:
        for batch in loader:
            if t0 is None:
                t0 = time.perf_counter()
                if at_start is not None:
                    at_start()
            else:
                n += batch["image"].shape[0]
            it += 1
            if it >= batches + 1:
                break
    return n, time.perf_counter() - (t0 or time.perf_counter())


def bench_data(
    input_size: Sequence[int],
    *,
    ann_file: str | None = None,
    image_dir: str | None = None,
    batch_size: int = 32,
    workers: int = 2,
    batches: int = 10,
    synth_image_size: Sequence[int] = (640, 480),
    image_cache_mb: float = 0,
) -> dict[str, Any]:
    """Throughput of the training data pipeline (read + decode + augment + crop + targets).

    Without ``ann_file`` a small synthetic COCO-format set (``synth_image_size`` images, the
    size of typical COCO photos) is generated in a temporary folder first. ``image_cache_mb``
    is the decoded-image cache per process (``data.image_cache_mb``; 0 = decode every time).

    Returns:
        dict with ``samples_per_s``, ``ms_per_sample`` (per worker) and, with 0 workers,
        ``decodes_per_sample`` (the cache's misses per sample delivered; None with workers).
    """
    from ..data.coco import load_coco_keypoints
    from ..data.loaders import make_loader
    from ..data.topdown import TopDownDataset, TopDownTransform
    from ..image import ImageCache

    w, h = int(input_size[0]), int(input_size[1])
    tmp = None
    if ann_file is None:
        from ..synth import generate_synthetic

        tmp = tempfile.TemporaryDirectory(prefix="semipose-bench-")
        n_img = max(16, batch_size * batches // 3)
        size = (int(synth_image_size[0]), int(synth_image_size[1]))
        generate_synthetic(tmp.name, num_train=n_img, num_unlabeled=0, num_val=0, image_size=size, seed=0, progress=False)
        ann_file = str(Path(tmp.name) / "annotations" / "person_keypoints_train.json")
        image_dir = str(Path(tmp.name) / "images" / "train")
    try:
        data = load_coco_keypoints(ann_file, image_dir or "")
        skeleton = data.skeleton
        codec = HeatmapCodec((w, h), (w // 4, h // 4), 2.0)
        ds = TopDownDataset(data.records, TopDownTransform(codec, skeleton, train=True), seed=0, images=ImageCache(image_cache_mb))
        loader = make_loader(ds, batch_size, workers, shuffle=True, generator=torch.Generator().manual_seed(0))
        start: list[int] = []
        n, dt = _timed_batches(loader, batches, lambda: start.append(ds.images.misses))
        misses0 = start[0] if start else 0
    finally:
        if tmp is not None:
            tmp.cleanup()
    sps = n / dt if dt > 0 else float("nan")
    return {
        "input": f"{w}x{h}",
        "workers": workers,
        "batch_size": batch_size,
        "samples": n,
        "samples_per_s": round(sps, 1),
        "ms_per_sample_per_worker": round(1e3 * max(workers, 1) / sps, 2) if sps == sps else None,
        "image_cache_mb": image_cache_mb,
        "decodes_per_sample": round((ds.images.misses - misses0) / n, 3) if workers == 0 and n else None,
        "source": ann_file if tmp is None else f"synthetic {synth_image_size[0]}x{synth_image_size[1]} images",
    }


def bench_frames(
    input_size: Sequence[int] = (128, 128),
    *,
    video: str | None = None,
    batch_size: int = 8,
    workers: int = 1,
    batches: int = 10,
    gap: int = 1,
    stride: int = 5,
) -> list[dict[str, Any]]:
    """Throughput of the unlabelled loader on a video's frames: single frames (the consistency
    methods) next to frame tuples ``t − gap, t, t + gap`` cropped alike (``ssl.temporal``,
    :class:`~semipose.data.context.FrameTupleDataset`), whole-frame boxes, every ``stride``-th
    frame, shuffled. Without ``video`` a 300-frame 640×480 clip is written to a temporary folder.

    Returns:
        one row per mode: ``crops_per_s`` (unlabelled crops delivered), ``frames_per_s``
        (frames decoded and cropped: three per crop with tuples).
    """
    import cv2
    import numpy as np

    from ..data.context import FrameTupleDataset
    from ..data.loaders import make_loader
    from ..data.topdown import TopDownDataset, TopDownTransform
    from ..data.videos import video_frame_records
    from ..image import ImageCache
    from ..skeletons import get_skeleton

    w, h = int(input_size[0]), int(input_size[1])
    tmp = None
    if video is None:
        tmp = tempfile.TemporaryDirectory(prefix="semipose-bench-")
        video = str(Path(tmp.name) / "clip.mp4")
        fourcc = cv2.VideoWriter_fourcc(*"mp4v")  # type: ignore[attr-defined]
        out = cv2.VideoWriter(video, fourcc, 25, (640, 480))
        rng = np.random.default_rng(0)
        base = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        for i in range(300):
            out.write(np.roll(base, 3 * i, axis=1))
        out.release()
    rows = []
    try:
        skeleton = get_skeleton("coco17")
        records, _ = video_frame_records([video], skeleton.num_keypoints, stride=stride)
        codec = HeatmapCodec((w, h), (w // 4, h // 4), 2.0)
        transform = TopDownTransform(codec, skeleton, train=True)
        for mode in ("single", "tuples"):
            ds = (FrameTupleDataset(records, transform, gap=gap, images=ImageCache(0)) if mode == "tuples"
                  else TopDownDataset(records, transform, images=ImageCache(0)))
            loader = make_loader(ds, batch_size, workers, shuffle=True, generator=torch.Generator().manual_seed(0))
            n, dt = _timed_batches(loader, batches)
            cps = n / dt if dt > 0 else float("nan")
            rows.append({"mode": mode, "input": f"{w}x{h}", "workers": workers, "batch_size": batch_size, "crops": n,
                         "crops_per_s": round(cps, 1), "frames_per_s": round(cps * (3 if mode == "tuples" else 1), 1),
                         "source": video if tmp is None else "a synthetic 640x480 clip"})
    finally:
        if tmp is not None:
            tmp.cleanup()
    return rows
