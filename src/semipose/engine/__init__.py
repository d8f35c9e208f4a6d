"""Training loop, checkpoints and the config → object builders."""
