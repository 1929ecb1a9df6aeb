"""The trainer's exception types, in one place; each message names the flag or file at fault.

This module imports nothing, so the configuration (`trainer.config`) can raise these before
TensorFlow is imported.
"""


class ConfigError(ValueError):
    """An invalid or incompatible flag; the message names the flag and what was expected."""


class StrategyError(ValueError):
    """A strategy that cannot be set up (bad name, missing or invalid TF_CONFIG, batch split)."""


class CheckpointError(RuntimeError):
    """A checkpoint could not be saved or does not fit the run it is restored into."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint's `.index` or `.data` file is missing, truncated or fails its checksum."""
