"""Validation and ``semipose eval``: predict a split with every network (and, for two, their
ensemble), score it (COCO AP through pycocotools, or PCKh), write results and metrics, pick the
metrics that choose ``best.pt``, draw predictions, print the table.

Multi-process: each rank predicts its shard, the predictions are summed across ranks and rank
0 scores them; the other ranks get ``{}``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools.coco import COCO
from torch import nn

from ..codec import HeatmapCodec
from ..config import Config
from ..data.loaders import eval_loader
from ..data.sources import EvalData
from ..device import resolve_channels_last, resolve_precision
from ..errors import ConfigError
from ..evaluation.coco import evaluate_predictions, format_metrics_table, load_coco_gt, metrics_filename, write_metrics_json
from ..evaluation.inference import Predictions, run_inference
from ..evaluation.pckh import evaluate_pckh, format_pckh_table
from ..evaluation.pixels import (
    InstanceErrors,
    errors_filename,
    format_pixel_table,
    instance_errors,
    pixel_errors,
    write_instance_errors,
)
from ..models.ensemble import EnsembleNet
from ..params import ENSEMBLE, ema_names, eval_names, net_key
from ..skeletons import BUILTIN_SKELETONS, Skeleton
from .distributed import DistInfo, all_reduce_sum

__all__ = [
    "NetResult",
    "ema_names",
    "validate",
    "validate_nets",
    "selection_metrics",
    "arch_rows",
    "results_table",
    "draw_predictions",
    "evaluate_model_file",
]

log = logging.getLogger("semipose")


@dataclass
class NetResult:
    """One network's evaluation: its metrics and the predictions they were computed from."""

    metrics: dict[str, float]
    predictions: Predictions




def _gather(preds: Predictions, k: int, device: torch.device, dist_info: DistInfo) -> Predictions | None:
    """The shards of every rank summed into rank 0's predictions (None on the other ranks)."""
    packed = torch.from_numpy(
        np.concatenate([preds.coords.reshape(len(preds.filled), -1), preds.maxvals, preds.filled[:, None]], axis=1)
    ).to(device)
    summed = all_reduce_sum(packed, dist_info).cpu().numpy()
    if not dist_info.is_main:
        return None
    if not (summed[:, -1] == 1).all():
        raise RuntimeError("distributed validation: shards did not cover every sample exactly once")
    preds.coords = summed[:, : 2 * k].reshape(-1, k, 2).astype(np.float32)
    preds.maxvals = summed[:, 2 * k : 3 * k].astype(np.float32)
    return preds


def validate(
    model: nn.Module, cfg: Config, data: EvalData, codec: HeatmapCodec, skeleton: Skeleton, device: torch.device,
    out_dir: Path | None, *, progress: bool = True, dist_info: DistInfo = DistInfo(), name: str = "net", gt: COCO | None = None,
) -> NetResult | None:
    """Predict the split with one network and score it.

    Results and metrics are written to ``out_dir`` as ``keypoints_<name>_results.json`` /
    ``metrics_<name>.json`` (PCKh: ``metrics_<name>.json`` and ``pred_<name>.npy``). ``gt``: the
    split's ground truth already loaded (default: read from ``data.ann_file``).

    Returns:
        The :class:`NetResult` (None on ranks other than 0).
    """
    if data.metric == "finder":
        return _validate_finder(model, cfg, data, codec, device, out_dir, progress=progress, name=name)
    precision = resolve_precision(cfg.eval.precision, device)
    channels_last = resolve_channels_last(cfg.eval.channels_last, precision)
    loader = eval_loader(data.dataset, cfg.eval.batch_size, cfg.data.workers, rank=dist_info.rank,
                         world_size=dist_info.world_size, pin_memory=device.type == "cuda")
    preds: Predictions | None = run_inference(
        model, loader, codec, device=device, flip_index=skeleton.flip_index if cfg.eval.flip_test else None,
        shift_heatmap=cfg.eval.shift_heatmap, precision=precision, channels_last=channels_last, progress=progress, desc=f"val {name}",
        num_keypoints=skeleton.num_keypoints, require_all=not dist_info.enabled,
    )
    if dist_info.enabled:
        preds = _gather(preds, skeleton.num_keypoints, device, dist_info)  # type: ignore[arg-type]
        if preds is None:
            return None
    assert preds is not None
    coords, maxvals = preds.coords, preds.maxvals
    if data.mapping is not None:  # union order → the dataset's keypoint order
        coords, maxvals = data.mapping.from_union(coords, axis=1), data.mapping.from_union(maxvals, axis=1)
    if data.metric == "pckh":
        assert data.gt_file is not None
        metrics: dict[str, float] = evaluate_pckh(coords, data.gt_file)
        if out_dir is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            write_metrics_json(Path(out_dir) / f"metrics_{name}.json", metrics)
            np.save(Path(out_dir) / f"pred_{name}.npy", np.concatenate([coords, maxvals[..., None]], axis=-1))
    else:
        centers, scales = data.crop_boxes()
        metrics = evaluate_predictions(
            data.records, coords, maxvals, gt if gt is not None else data.ann_file, centers=centers, scales=scales,
            skeleton=data.eval_skeleton or skeleton,
            out_dir=out_dir,
            in_vis_thr=cfg.eval.in_vis_thr, oks_thr=cfg.eval.oks_nms_thr, use_nms=cfg.eval.use_nms, name=name,
        )
        sk = data.eval_skeleton or skeleton
        if data.records and all(r.ann_id >= 0 for r in data.records):  # scored on the labelled persons (GT boxes)
            gt_kp = np.stack([r.keypoints for r in data.records])
            if data.mapping is not None:  # records in the union's order, like the predictions before mapping
                gt_kp = data.mapping.from_union(gt_kp, axis=1)
            if out_dir is not None:  # each instance's errors in pixels (semipose compare reads them), any keypoint set
                write_instance_errors(Path(out_dir) / errors_filename(name), InstanceErrors(
                    list(sk.keypoints), np.array([r.image_id for r in data.records]), np.array([r.ann_id for r in data.records]),
                    instance_errors(coords, gt_kp)))
            if sk.name not in BUILTIN_SKELETONS:  # a custom keypoint set: its summary in pixels beside AP
                metrics.update(pixel_errors(coords, gt_kp, sk.keypoints))
                if out_dir is not None:
                    write_metrics_json(Path(out_dir) / metrics_filename(name), metrics)
    return NetResult(metrics, preds)


def _validate_finder(model: nn.Module, cfg: Config, data: EvalData, codec: HeatmapCodec, device: torch.device, out_dir: Path | None,
                     *, progress: bool, name: str) -> NetResult:
    """An instance finder on the validation frames: its peaks matched to the labelled anchors
    (within ``finder.min_distance``; Hungarian), F1 of instances, frames with every instance
    found, and the matched anchors' errors in pixels (one process: the frames are few)."""
    from ..evaluation.tracking import score_instances
    from ..models.finder import finder_min_distance, peak_decoder

    precision = resolve_precision(cfg.eval.precision, device)
    loader = eval_loader(data.dataset, cfg.eval.batch_size, cfg.data.workers, pin_memory=device.type == "cuda")
    assert data.eval_skeleton is not None and cfg.finder.crop is not None
    m = data.eval_skeleton.num_keypoints
    min_px = finder_min_distance(cfg.finder)
    _, scales = data.crop_boxes()
    frame_per_hm = float(np.median(scales[:, 0])) * 200.0 / codec.heatmap_size[0]
    decode = peak_decoder(max(m, cfg.finder.max_instances) if cfg.finder.max_instances else m + 2, cfg.finder.threshold,
                          min_px / frame_per_hm, cfg.finder.max_instances)
    preds = run_inference(model, loader, codec, device=device, precision=precision, progress=progress, desc=f"val {name}",
                          decode=decode)
    found = [preds.coords[i][preds.maxvals[i] > 0][:, None] for i in range(len(data.records))]
    truth = [r.keypoints[r.keypoints[:, 2] > 0, None, :2] for r in data.records]
    score = score_instances(found, truth, max_distance=min_px)
    metrics = score.summary()
    metrics["F1"] = 2 * metrics["matched"] / max(2 * metrics["matched"] + metrics["missed"] + metrics["extra"], 1.0)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        write_metrics_json(Path(out_dir) / f"metrics_{name}.json", metrics)
    return NetResult(metrics, preds)


def validate_nets(
    nets: Sequence[nn.Module], cfg: Config, data: EvalData, codec: HeatmapCodec, skeleton: Skeleton, device: torch.device,
    out_dir: Path | None, *, progress: bool = True, dist_info: DistInfo = DistInfo(), ema_nets: Sequence[nn.Module] = (),
) -> dict[str, NetResult]:
    """Evaluate every network and, for several, their ensemble (mean heatmaps), then every EMA
    teacher in ``ema_nets``.

    Returns:
        ``{name: result}`` for the names of :func:`~semipose.params.eval_names` and :func:`ema_names` (``{}`` on
        non-main ranks).
    """
    models = list(nets)
    if len(models) > 1:
        models.append(EnsembleNet(list(nets)))
    models += list(ema_nets)
    names = eval_names(len(nets)) + (ema_names(len(ema_nets)) if ema_nets else [])
    # the ground truth is read and checked once for every network scored on it
    gt = load_coco_gt(data.ann_file, skeleton=data.eval_skeleton or skeleton) if data.ann_file and dist_info.is_main else None
    out: dict[str, NetResult] = {}
    for name, m in zip(names, models):
        res = validate(m, cfg, data, codec, skeleton, device, out_dir, progress=progress, dist_info=dist_info, name=name, gt=gt)
        if res is not None:
            out[name] = res
    return out


def selection_metrics(metrics: dict[str, dict[str, float]], select: str) -> dict[str, float]:
    """The metrics that pick ``best`` from ``{name: metrics}`` of :func:`~semipose.params.eval_names`: the one
    network's; for two, the mean of the nets' (MultiAugs), net 1's (Semi_Human_Pose) or the
    ensemble's, by ``select``; ``ema``: the EMA teacher's (the mean of two)."""
    teachers = set(ema_names(1) + ema_names(len(metrics)))
    n = sum(1 for k in metrics if k != ENSEMBLE and k not in teachers)  # the networks evaluated
    nets = eval_names(n)
    if select == "ema":
        src = [metrics[k] for k in ema_names(n) if k in metrics]
        if not src:
            raise ConfigError("ssl.select: ema, but no EMA teacher was evaluated (ssl.teacher: ema)")
    elif n == 1:
        return dict(metrics[nets[0]])
    elif select in (ENSEMBLE, net_key(0)):
        src = [metrics[select]]
    else:
        src = [metrics[k] for k in nets if k != ENSEMBLE]
    return {k: float(np.mean([m[k] for m in src])) for k in src[0]}


def arch_rows(metrics: dict[str, dict[str, float]], arch: str) -> dict[str, dict[str, float]]:
    """``{name: metrics}`` of :func:`~semipose.params.eval_names` as table rows: ``arch``, or ``arch net1`` …"""
    return {(arch if n == eval_names(1)[0] else f"{arch} {n}"): m for n, m in metrics.items()}


def results_table(metrics: dict[str, dict[str, float]], arch: str, metric: str, skeleton: Skeleton | None = None,
                  default_sigma: float | None = None) -> str:
    """The printed table of an evaluation: one row per network (:func:`arch_rows`), COCO AP/AR
    columns or PCKh columns; for a custom keypoint set (``skeleton``) the first network's errors
    in pixels per keypoint too, and a word when AP's σ is the default for every keypoint."""
    rows = arch_rows(metrics, arch)
    if metric == "pckh":
        return format_pckh_table(rows)
    if metric == "finder":  # instances found: F1, frames with all found, missed / extra, the anchors' errors in pixels
        cols = [("F1", "F1", "{:.4f}"), ("frames found", "found_frames", "{:.1%}"), ("matched", "matched", "{:.0f}"),
                ("missed", "missed", "{:.0f}"), ("extra", "extra", "{:.0f}"), ("anchor median px", "median_px", "{:.2f}"),
                ("anchor RMSE px", "rmse_px", "{:.2f}")]
        width = max(len(r) for r in rows)
        lines = [" | ".join([f"{'':{width}}"] + [c for c, _, _ in cols])]
        for r, m in rows.items():
            lines.append(" | ".join([f"{r:{width}}"] + [f.format(m[k]).rjust(len(c)) if k in m else "-".rjust(len(c)) for c, k, f in cols]))
        return "\n".join(lines)
    out = format_metrics_table(rows)
    first = next(iter(metrics.values()), {})
    if skeleton is not None and "rmse_px" in first:
        if default_sigma is not None and np.allclose(skeleton.sigmas, default_sigma):
            out += f"\n(AP with σ = {default_sigma:g} for every keypoint: data.default_sigma, not sigmas of this keypoint set)"
        out += f"\n\nerrors in pixels of the original image ({next(iter(metrics))}, {int(first['labelled_px'])} labelled keypoints):\n"
        out += format_pixel_table(first, skeleton.keypoints)
    return out


def draw_predictions(path: Path, data: EvalData, preds: Predictions, skeleton: Skeleton, n: int, *, score_thr: float = 0.2) -> None:
    """The predictions on the first ``n`` images of the split, drawn as one grid picture."""
    from ..visualize import save_prediction_grid

    by_image: dict[int, list[int]] = {}
    for i, r in enumerate(data.records):
        by_image.setdefault(r.image_id, []).append(i)
    items: list[Any] = []
    for _, idx in list(by_image.items())[:n]:
        kp = np.concatenate([preds.coords[idx], preds.maxvals[idx][..., None]], axis=-1)
        boxes = np.stack([data.records[i].bbox for i in idx])
        items.append((data.records[idx[0]].image_path, kp, boxes))
    if items:
        save_prediction_grid(path, items, skeleton, score_thr=score_thr)


def _check_names(model_file: Any, skeleton: Any, cfg: Config) -> None:
    """The model's keypoint names must be the scored file's (a COCO-17 model on PoseTrack's
    17 joints is refused); the ``union24`` set maps by names and is not compared."""
    from ..data.cocojson import keypoint_category, read_json
    from ..errors import CheckpointError
    from ..skeletons import Skeleton, keypoint_name_mismatch

    ann = cfg.data.resolve(cfg.data.val.ann_file)
    if skeleton.name == "union24" or cfg.data.val.format != "coco" or not ann:
        return
    data = read_json(ann)
    cat = keypoint_category(data, ann, None) if isinstance(data, dict) else None
    if cat is None:
        return
    problem = keypoint_name_mismatch(model_file.card.keypoint_set, Skeleton.from_coco_category(cat, default_sigma=cfg.data.default_sigma))
    if problem:
        hint = " (a reference file: give --keypoints NAME, the set it was trained on)" if model_file.kind == "reference" else ""
        raise CheckpointError(f"{model_file.path} on {ann}: {problem}; score it on data of its own keypoint set{hint}")


def evaluate_model_file(
    cfg: Config, model_file: Any, out_dir: Path, *, progress: bool = True,
) -> tuple[EvalData, dict[str, NetResult]]:
    """``semipose eval``: the networks of a model file on the configured validation split.

    Args:
        cfg: the evaluation's config (the card's, with the command line's overrides).
        model_file: a :class:`~semipose.models.modelfile.ModelFile`.
        out_dir: where results and metrics are written.

    Returns:
        ``(data, results)``: the split evaluated and ``{name: result}`` of :func:`~semipose.params.eval_names`.

    Raises:
        CheckpointError: the file's keypoint count differs from the split's keypoint set.
    """
    from ..data.sources import build_eval_data, build_skeleton
    from ..device import resolve_device
    from ..errors import CheckpointError
    from ..models.modelfile import keypoints_hint
    from ..models.netweights import load_nets_weights
    from .build import build_codec, build_model

    device = resolve_device(cfg.device)
    card = model_file.card
    if cfg.task == "finder":  # an instance finder on the split's whole frames
        from ..data.finder import build_finder_data

        codec = build_codec(cfg)
        _, data, skeleton = build_finder_data(cfg, codec)
        nets = [build_model(cfg, 1, load_pretrained=False).to(device) for _ in range(card.num_nets)]
        log.info("weights: %s", load_nets_weights(nets, model_file, strict=True))
        out_dir.mkdir(parents=True, exist_ok=True)
        return data, validate_nets(nets, cfg, data, codec, skeleton, device, out_dir, progress=progress)
    skeleton = build_skeleton(cfg)
    if skeleton.num_keypoints != card.num_keypoints:
        raise CheckpointError(
            f"{model_file.path}: the file has {card.num_keypoints} output channels but the keypoint set {skeleton.name!r} has "
            f"{skeleton.num_keypoints}: {keypoints_hint(card.num_keypoints)}"
        )
    _check_names(model_file, skeleton, cfg)
    codec = build_codec(cfg)
    data = build_eval_data(cfg, skeleton, codec)
    nets = [build_model(cfg, skeleton.num_keypoints, load_pretrained=False).to(device) for _ in range(card.num_nets)]
    log.info("weights: %s", load_nets_weights(nets, model_file, strict=True))
    out_dir.mkdir(parents=True, exist_ok=True)
    return data, validate_nets(nets, cfg, data, codec, skeleton, device, out_dir, progress=progress)
