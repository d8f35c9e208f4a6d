"""Built-in synthetic COCO-format keypoint dataset (the ``synth`` package): a small, offline stand-in for COCO.

Everything is drawn procedurally with OpenCV and numpy (no downloaded assets) and is
deterministic per seed.

The generator
-------------
Each image is a cluttered textured background (gradients, smooth colour blotches, "rooms"
with a wall and a floor, patterned walls, random shapes) with *limb-like distractors*
(outlined capsules in skin or clothing colours, sometimes bent or ending in a hand-like
blob, rarely a head-like blob) on which 1-4 articulated people are drawn.

A person is a 3-D stick figure (standing height 1) with sampled body proportions (girth,
shoulder/hip width, limb lengths, some children), posed by joint angles (standing,
walking/running, arms raised, sitting -- often on a drawn seat --, crouching, bending /
leaning, "action" poses with kicks and large arm motions) and projected orthographically
at a sampled yaw, in-plane roll and scale. The yaw picks the **facing** (``front``,
``back``, ``profile_left``, ``profile_right``, each jittered by up to ~25 degrees) and
makes left and right decidable from face cues as in real photos:

* ``front``: both eyes, nose and mouth are drawn; the person's anatomical left is on the
  image right.
* ``back``: hair covers the head, no face features, both ears at the sides; the person's
  left is on the image left.
* ``profile_left`` / ``profile_right``: the person's left / right side faces the camera,
  i.e. the nose points to the image left / right; one eye, a nose sticking out sideways and
  one ear are drawn.

Body parts are tapered capsules (limbs, in clothing colour, or skin for short sleeves and
shorts), convex polygons (torso, pelvis) and ellipses (head, hair, ears, eyes), painted
back to front by depth so that far-side limbs go behind the torso and near-side limbs in
front. Clothing is textured (solid, stripes, checks, plaid, dots, smooth noise,
camouflage) with random colours; skin tones, hair colours and styles (short, long, hats)
vary; parts get a thin darker outline and far-side limbs are shaded darker.

After the people, random occluders (boxes, blobs, ellipses, poles, counters/tables over the
legs) are drawn over some of them, then the image gets a photometric jitter, optional
Gaussian or motion blur, sensor noise and JPEG compression at a random quality.

Keypoints and visibility (COCO conventions)
-------------------------------------------
The 17 COCO keypoints are the projected joints (``nose`` is the nose tip, eyes/ears the
drawn features). Flags: ``2`` visible; ``1`` labelled but occluded -- covered by another
person, an occluder or a seat, or self-occluded (a far-side joint behind the torso in a
profile view, face keypoints facing away from the camera such as the far ear in profile or
the eyes/nose in a back view, a limb crossing behind the body); ``0`` outside the image,
written as ``0, 0, 0``. A keypoint counts as inside when ``0 <= x <= W-1`` and
``0 <= y <= H-1``. ``bbox`` is the tight box of the visible silhouette (the person's own
pixels left after everything drawn in front of it), ``area`` its pixel count; when fewer
than 16 pixels are visible, the box and area of the whole in-image silhouette are used
instead. People with no keypoint of ``v > 0`` are drawn but not annotated. Annotations
also carry a non-COCO ``attributes`` dict (``facing``, ``pose``, ``yaw``, ``height_px``,
``occluded_frac``, ``truncated``) for analysis; pycocotools ignores it.

Output layout
-------------
::

    OUT/
      annotations/person_keypoints_train.json      labelled split (COCO keypoint format)
      annotations/person_keypoints_val.json        validation split with ground truth
      annotations/image_info_unlabeled.json        unlabelled split: info, licenses,
                                                   categories, images (no 'annotations')
      annotations/person_keypoints_unlabeled.json  ground truth of the unlabelled split
                                                   (for analysis only)
      annotations/detections_val.json             detector-style results for val images
      annotations/detections_unlabeled.json       ... and for the unlabelled images
      images/train/000000000001.jpg ...            file name = 12-digit image id + ".jpg"
      images/val/000001000001.jpg ...
      images/unlabeled/000002000001.jpg ...
      synth.json                                   settings, id scheme and counts

Id scheme
---------
Image ids are unique across splits: image ``i`` (0-based) of a split has id
``IMAGE_ID_OFFSET[split] + i + 1``, i.e. train ``1 ...``, val ``1_000_001 ...``,
unlabeled ``2_000_001 ...`` (hence at most 999 999 images per split). Annotation ids are
``image_id * 10 + k`` with ``k`` = 1-4 the person's depth rank in the image (drawn back
to front), so they are unique too.

Detections
----------
The detection files are COCO results lists (``image_id``, ``category_id`` 1, ``bbox``,
``score``) made from the ground-truth boxes with realistic jitter (centre shift and size
change of a few up to 15 %), scores mostly 0.5-1.0 but lower for occluded, truncated or
small people, ~5 % of people missed, plus false positives (random person-shaped boxes with
scores mostly below 0.5), so that a score threshold matters.

Knobs
-----
``difficulty`` (default 1.0, 0-4) scales all nuisance factors: clutter and distractor
counts, occluder and truncation probability, fraction of tiny people, blur and noise
strength, detector false positives. ``difficulty=0`` gives clean people on calm
backgrounds; 2 is markedly harder. ``image_size``, ``jpeg_quality`` and the split sizes
are the other settings.

Determinism
-----------
Image ``i`` of a split is rendered from ``np.random.default_rng([seed, split_code, i])``
(``split_code`` 0 train, 1 val, 2 unlabeled) and nothing else, so the output is
byte-identical for a seed whatever the number of worker processes.
"""

from __future__ import annotations

from .generate import SynthSummary, generate_synthetic
from .layout import (
    FACINGS,
    GENERATOR_VERSION,
    IMAGE_ID_OFFSET,
    MAX_IMAGES_PER_SPLIT,
    POSE_KINDS,
    SPLITS,
    coco_category,
    file_name_for,
    image_id_for,
)
from .render import render_synthetic_image

__all__ = [
    "GENERATOR_VERSION",
    "SPLITS",
    "IMAGE_ID_OFFSET",
    "MAX_IMAGES_PER_SPLIT",
    "FACINGS",
    "POSE_KINDS",
    "SynthSummary",
    "generate_synthetic",
    "render_synthetic_image",
    "image_id_for",
    "file_name_for",
    "coco_category",
]
