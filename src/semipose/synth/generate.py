"""The dataset: every split rendered in worker processes, written as COCO-format files."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError
from .layout import (
    ANN_ID_FACTOR,
    GENERATOR_VERSION,
    IMAGE_ID_OFFSET,
    MAX_IMAGES_PER_SPLIT,
    SPLITS,
    coco_category,
    file_name_for,
    image_id_for,
)
from .render import _render, _Settings


def _render_chunk(settings: _Settings, out_dir: str, split: str, start: int, stop: int) -> list[dict[str, Any]]:
    """Render and write images ``start..stop-1`` of a split; returns their JSON pieces."""
    img_dir = Path(out_dir) / "images" / split
    results = []
    for i in range(start, stop):
        r = _render(settings, split, i)
        image_id = image_id_for(split, i)
        name = file_name_for(image_id)
        ok, buf = cv2.imencode(".jpg", r.image, [cv2.IMWRITE_JPEG_QUALITY, r.quality])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for {name}")
        (img_dir / name).write_bytes(buf.tobytes())
        results.append({
            "index": i,
            "image": {"id": image_id, "file_name": name, "width": settings.width, "height": settings.height},
            "annotations": r.annotations,
            "detections": r.detections,
            "persons_drawn": r.persons_drawn,
        })
    return results


def _worker_init() -> None:
    cv2.setNumThreads(1)


@dataclass
class SynthSummary:
    """What :func:`generate_synthetic` wrote.

    Attributes:
        out_dir: the dataset root.
        counts: per split, ``{"images": n, "persons": m}`` (m = annotated persons).
        seconds: wall-clock generation time.
    """

    out_dir: Path
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0


def _coco_header() -> dict[str, Any]:
    return {
        "info": {
            "description": "semipose synthetic person keypoints (procedurally generated)",
            "version": GENERATOR_VERSION,
            "contributor": "semipose.synth",
            "url": "",
        },
        "licenses": [],
        "categories": [coco_category()],
    }


def _dump(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, separators=(",", ":")), encoding="utf-8")


def generate_synthetic(out_dir: str | Path, *, num_train: int = 2000, num_unlabeled: int = 2000, num_val: int = 500,
                       image_size: tuple[int, int] = (320, 240), seed: int = 0, difficulty: float = 1.0,
                       workers: int | None = None, progress: bool = True, jpeg_quality: tuple[int, int] = (70, 95),
                       overwrite: bool = False) -> SynthSummary:
    """Generate a synthetic COCO-format person keypoint dataset under ``out_dir``.

    Args:
        out_dir: dataset root (created if missing); see the module docstring for the layout.
        num_train: labelled training images.
        num_unlabeled: unlabelled images (their ground truth is written separately).
        num_val: validation images.
        image_size: ``(width, height)`` in pixels, each at least 64.
        seed: non-negative seed; the output is a pure function of the settings.
        difficulty: nuisance scale (0 = clean, 1 = default, up to 4).
        workers: worker processes (default ``os.cpu_count()``); 0 or 1 renders in-process.
            The output does not depend on it.
        progress: show a tqdm bar per split.
        jpeg_quality: inclusive ``(low, high)`` range of JPEG qualities, within 1-100.
        overwrite: replace an existing dataset (one with a ``synth.json``) in ``out_dir``;
            its old split images are removed first.

    Returns:
        A :class:`SynthSummary`.

    Raises:
        ValueError: on invalid arguments.
        FileExistsError: if ``out_dir/synth.json`` exists and ``overwrite`` is False.
    """
    counts_req = {"train": num_train, "val": num_val, "unlabeled": num_unlabeled}
    for k, v in counts_req.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ConfigError(f"num_{k} must be an integer, got {v!r}")
        if v < 0:
            raise ConfigError(f"num_{k} must be >= 0, got {v}")
        if v > MAX_IMAGES_PER_SPLIT:
            raise ConfigError(f"num_{k} must be <= {MAX_IMAGES_PER_SPLIT} (image id scheme), got {v}")
    try:
        W, H = (int(image_size[0]), int(image_size[1]))
        if len(image_size) != 2:
            raise TypeError
    except (TypeError, ValueError, IndexError):
        raise ConfigError(f"image_size must be (width, height), got {image_size!r}") from None
    if W < 64 or H < 64:
        raise ConfigError(f"image_size must be at least 64x64 pixels, got {W}x{H}")
    if W > 4096 or H > 4096:
        raise ConfigError(f"image_size must be at most 4096x4096 pixels, got {W}x{H}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(difficulty, (int, float, np.floating, np.integer)) or not (0.0 <= float(difficulty) <= 4.0):
        raise ConfigError(f"difficulty must be a number in [0, 4], got {difficulty!r}")
    try:
        qlo, qhi = int(jpeg_quality[0]), int(jpeg_quality[1])
        if len(jpeg_quality) != 2:
            raise TypeError
    except (TypeError, ValueError, IndexError):
        raise ConfigError(f"jpeg_quality must be a (low, high) pair, got {jpeg_quality!r}") from None
    if not (1 <= qlo <= qhi <= 100):
        raise ConfigError(f"jpeg_quality must satisfy 1 <= low <= high <= 100, got {jpeg_quality!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 0):
        raise ConfigError(f"workers must be None or a non-negative integer, got {workers!r}")
    n_workers = (os.cpu_count() or 1) if workers is None else int(workers)

    out = Path(out_dir)
    meta_path = out / "synth.json"
    if meta_path.exists():
        if not overwrite:
            raise FileExistsError(f"{meta_path} exists: a synthetic dataset is already there "
                                  "(pass overwrite=True to replace it)")
        for split in SPLITS:
            d = out / "images" / split
            if d.is_dir():
                for f in d.glob("*.jpg"):
                    if len(f.stem) == 12 and f.stem.isdigit():
                        f.unlink()
        meta_path.unlink()
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)

    settings = _Settings(W, H, int(seed), float(difficulty), (qlo, qhi))
    t0 = time.perf_counter()
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    total = sum(counts_req.values())
    chunk = max(1, min(32, total // max(n_workers * 8, 1) or 1))

    def bar(split: str, n: int) -> Any:
        if not progress:
            return None
        from tqdm.auto import tqdm
        return tqdm(total=n, desc=f"synth {split}", unit="img", leave=True)

    if n_workers <= 1:
        for split in SPLITS:
            n = counts_req[split]
            pb = bar(split, n)
            for s0 in range(0, n, chunk):
                s1 = min(n, s0 + chunk)
                results[split] += _render_chunk(settings, str(out), split, s0, s1)
                if pb is not None:
                    pb.update(s1 - s0)
            if pb is not None:
                pb.close()
    else:
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx, initializer=_worker_init) as ex:
            futs: dict[str, list[tuple[int, Future[list[dict[str, Any]]]]]] = {}
            for split in SPLITS:  # submit everything up front so the pool never idles
                n = counts_req[split]
                futs[split] = [(min(n, s0 + chunk) - s0, ex.submit(_render_chunk, settings, str(out), split, s0,
                                                                   min(n, s0 + chunk)))
                               for s0 in range(0, n, chunk)]
            for split in SPLITS:
                pb = bar(split, counts_req[split])
                for size, fut in futs[split]:
                    results[split] += fut.result()
                    if pb is not None:
                        pb.update(size)
                if pb is not None:
                    pb.close()

    counts: dict[str, dict[str, int]] = {}
    meta_splits: dict[str, Any] = {}
    ann_dir = out / "annotations"
    for split in SPLITS:
        res = sorted(results[split], key=lambda r: r["index"])
        images = [r["image"] for r in res]
        anns = [a for r in res for a in r["annotations"]]
        dets = [d for r in res for d in r["detections"]]
        coco = _coco_header()
        coco["images"] = images
        coco["annotations"] = anns
        _dump(ann_dir / f"person_keypoints_{split}.json", coco)
        files = {"ground_truth": f"annotations/person_keypoints_{split}.json"}
        if split == "unlabeled":
            info = _coco_header()
            info["images"] = images
            _dump(ann_dir / "image_info_unlabeled.json", info)
            files["image_info"] = "annotations/image_info_unlabeled.json"
        if split in ("val", "unlabeled"):
            _dump(ann_dir / f"detections_{split}.json", dets)
            files["detections"] = f"annotations/detections_{split}.json"
        counts[split] = {"images": len(images), "persons": len(anns)}
        meta_splits[split] = {
            "images": len(images),
            "persons": len(anns),
            "persons_drawn": int(sum(r["persons_drawn"] for r in res)),
            "detections": len(dets) if split != "train" else 0,
            "image_dir": f"images/{split}",
            "first_image_id": image_id_for(split, 0),
            "files": files,
        }
    meta = {
        "generator": "semipose.synth",
        "version": GENERATOR_VERSION,
        "settings": {
            "num_train": int(num_train), "num_val": int(num_val), "num_unlabeled": int(num_unlabeled),
            "image_size": [W, H], "seed": int(seed), "difficulty": float(difficulty),
            "jpeg_quality": [qlo, qhi],
        },
        "id_scheme": {
            "image_id": "IMAGE_ID_OFFSET[split] + index + 1",
            "image_id_offset": dict(IMAGE_ID_OFFSET),
            "annotation_id": f"image_id * {ANN_ID_FACTOR} + depth rank (1-based, back to front)",
            "file_name": "12-digit zero-padded image id + '.jpg'",
            "rng": "np.random.default_rng([seed, split_code, index]), split_code train=0 val=1 unlabeled=2",
        },
        "counts": counts,
        "splits": meta_splits,
    }
    meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return SynthSummary(out_dir=out, counts=counts, seconds=time.perf_counter() - t0)
