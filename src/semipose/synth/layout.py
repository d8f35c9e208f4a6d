"""Ids, file names, the COCO category and the constants the generator's stages share."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..skeletons import COCO17

GENERATOR_VERSION = "1.0"

#: Split names, in generation order.
SPLITS: tuple[str, ...] = ("train", "val", "unlabeled")
_SPLIT_CODE: dict[str, int] = {"train": 0, "val": 1, "unlabeled": 2}
#: Image id of image ``i`` of a split is ``IMAGE_ID_OFFSET[split] + i + 1``.
IMAGE_ID_OFFSET: dict[str, int] = {"train": 0, "val": 1_000_000, "unlabeled": 2_000_000}
MAX_IMAGES_PER_SPLIT = 999_999
#: Annotation id = image id * ANN_ID_FACTOR + depth rank (1-based).
ANN_ID_FACTOR = 10

FACINGS: tuple[str, ...] = ("front", "back", "profile_left", "profile_right")
_FACING_PROBS = (0.40, 0.20, 0.20, 0.20)
# Camera yaw of each facing (radians): 0 = facing the camera; +90 deg = the person's left
# side towards the camera (nose pointing to the image left).
_FACING_YAW = {"front": 0.0, "back": math.pi, "profile_left": math.pi / 2, "profile_right": -math.pi / 2}
_FACING_JITTER_DEG = {"front": 25.0, "back": 25.0, "profile_left": 15.0, "profile_right": 15.0}

POSE_KINDS: tuple[str, ...] = ("stand", "walk", "arms_up", "sit", "crouch", "lean", "action")
_POSE_PROBS = (0.26, 0.22, 0.14, 0.10, 0.08, 0.08, 0.12)

_K = COCO17.num_keypoints
(NOSE, L_EYE, R_EYE, L_EAR, R_EAR, L_SHO, R_SHO, L_ELB, R_ELB, L_WRI, R_WRI,
 L_HIP, R_HIP, L_KNE, R_KNE, L_ANK, R_ANK) = range(17)

# Material codes of body parts (index into a person's texture table).
_SKIN, _SHIRT, _TROUSERS, _SHOES, _HAIR, _EYE_WHITE, _PUPIL, _MOUTH, _SKIN_DARK, _HAT = range(1, 11)
_N_MATERIALS = 11

_OCCLUDER_OWNER = 1  # owner-map value of occluders and seats; persons use (p + 1) * 64 + part
_PART_BITS = 6

# Skin tones (RGB), light to dark; hair colours (RGB) with sampling weights.
_SKIN_TONES = np.array(
    [(255, 224, 196), (241, 194, 167), (232, 180, 150), (224, 172, 138), (198, 134, 100),
     (176, 118, 84), (150, 96, 66), (120, 75, 50), (92, 58, 40)], dtype=np.float32)
_HAIR_COLOURS = np.array(
    [(22, 18, 16), (45, 32, 24), (70, 48, 32), (110, 75, 45), (196, 164, 108), (150, 72, 40),
     (140, 140, 140), (215, 212, 205)], dtype=np.float32)
_HAIR_P = np.array([0.28, 0.22, 0.16, 0.1, 0.1, 0.05, 0.06, 0.03])

_SHIFT = 3  # sub-pixel bits for cv2 drawing
_SCALE = float(1 << _SHIFT)


def image_id_for(split: str, index: int) -> int:
    """COCO image id of image ``index`` (0-based) of ``split``."""
    return IMAGE_ID_OFFSET[split] + int(index) + 1


def file_name_for(image_id: int) -> str:
    """File name of an image: the 12-digit zero-padded id plus ``.jpg``."""
    return f"{int(image_id):012d}.jpg"


def coco_category() -> dict[str, Any]:
    """The single COCO ``categories`` entry (person, 17 keypoints, 1-based skeleton)."""
    return {
        "id": 1,
        "name": "person",
        "supercategory": "person",
        "keypoints": list(COCO17.keypoints),
        "skeleton": [[a + 1, b + 1] for a, b in COCO17.edges],
    }



def _check_split(split: str) -> None:
    if split not in _SPLIT_CODE:
        raise ConfigError(f"unknown split {split!r}; expected one of {SPLITS}")
