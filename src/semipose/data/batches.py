"""The batches that flow from the loaders to the training step, typed: one labelled crop, one
unlabelled crop, a mixed batch of both, and the step's device inputs (no torch at run time:
the shapes are stated, the tensors are ``torch.Tensor``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["LabelledSample", "UnlabelledSample", "MixedBatch", "StepInputs"]


class LabelledSample(TypedDict):
    """A labelled crop (:class:`~semipose.data.topdown.TopDownTransform`), or a batch of them
    (a leading ``B`` on every field)."""

    image: Tensor  #: ``(3, H, W)`` float32, normalised
    target: Tensor  #: ``(K, h, w)`` target heatmaps
    target_weight: Tensor  #: ``(K,)`` 1 where the joint is labelled
    joints: Tensor  #: ``(K, 3)`` joints in crop pixels and visibility
    center: Tensor  #: ``(2,)`` crop centre in image pixels
    scale: Tensor  #: ``(2,)`` crop size / 200
    rotation: Tensor  #: degrees
    flip: Tensor  #: mirrored
    image_id: Tensor  #: int64
    box_score: Tensor  #: the box's detector score (1 for labels)


class _UnlabelledRequired(TypedDict):
    image: Tensor  #: ``(3, H, W)``
    weight: Tensor  #: ``(K,)`` 1 on the joints the labelled set supervises
    index: Tensor  #: the crop's index in the unlabelled set


class UnlabelledSample(_UnlabelledRequired, total=False):
    """An unlabelled crop (the easy view), or a batch of them (a leading ``B``); ``context``
    only from a :class:`~semipose.data.context.FrameTupleDataset` (the temporal term)."""

    context: Tensor  #: ``(2, 3, H, W)`` the frames before and after, cropped identically


class MixedBatch(TypedDict):
    """A batch of :class:`~semipose.data.mixed.MixedDataset`: ``B_l`` labelled and ``B_u`` unlabelled crops."""

    sup: LabelledSample | None
    unsup: UnlabelledSample | None


class _SupervisedInputs(TypedDict):
    sup_images: Tensor  #: ``(N, 3, H, W)``
    sup_target: Tensor  #: ``(N, K, h, w)``
    sup_weight: Tensor  #: ``(N, K)``


class StepInputs(_SupervisedInputs, total=False):
    """The arguments of :meth:`SemiSupervisedModel.forward <semipose.ssl.methods.SemiSupervisedModel.forward>`,
    on the device (the unlabelled ones only in a mixed batch)."""

    unsup_images: Tensor  #: ``(M, 3, H, W)``
    unsup_weight: Tensor  #: ``(M, K)``
    unsup_context: Tensor  #: ``(M, 2, 3, H, W)`` (the temporal term only)
