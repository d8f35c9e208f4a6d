"""Training: the loop, its run folder and callbacks, validation and `semipose eval`, checkpoints, DDP, and the config → object builders."""
