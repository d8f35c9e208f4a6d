"""Finding the instances in a frame: the one detector contract (:mod:`.base`) and what implements
it — the ONNX person detector for photos (:mod:`.person`).

A floor below both the training engine (detector boxes for unlabelled videos) and ``predict``
(``--detector``, :class:`~semipose.predict.PoseEstimator`), so neither reaches into the other.
"""
