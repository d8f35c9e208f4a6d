"""Labelling tools' project formats: one module per tool, each reading *and* writing its format.

* :mod:`.dlc` — DeepLabCut / lightning-pose labels tables (``CollectedData*.csv`` and ``.h5``,
  single- and multi-animal), and the same table for predictions and frames to label;
* :mod:`.sleap` — SLEAP ``.slp`` / ``.pkg.slp`` (through sleap-io);
* :mod:`.label_studio` — Label Studio JSON exports in, task lists out;
* :mod:`.coco` — COCO keypoint files (e.g. CVAT's export) in, the COCO file of an import out.

Every reader returns a :class:`~.labels.ProjectLabels`; :mod:`semipose.data.importers` turns it
into a COCO keypoint file and an image folder. Adding a tool is one new module here plus its
name in :data:`semipose.params.IMPORT_FORMATS` and one branch in
:func:`semipose.data.importers.read_project`.
"""
