"""The semi-supervised step on the device: hard-view augmentations (occlusion, photometric,
recipes), the hard-view affine (views) and the teacher-student methods (methods)."""
