"""Semi-supervised learning components: batch-level augmentations (:mod:`semipose.ssl.augment`)."""
