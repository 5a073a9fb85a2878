"""The project's exception tree: one root, a subclass per kind of bad input or unreachable resource."""


class AdmfError(Exception):
    """Root of every error admf raises on purpose; the CLI prints its message as one line."""

    exit_code = 1


class ConfigError(AdmfError):
    """The experiment config is malformed: a field is unknown, missing, of the wrong type or out of range."""

    exit_code = 2


class DataError(AdmfError):
    """Market data is missing, unreadable or breaks a rule (the message names the file, row and rule)."""

    exit_code = 3


class ClusterError(AdmfError):
    """The Ray cluster cannot be reached or started."""

    exit_code = 4


class StorageError(AdmfError):
    """Study storage cannot be opened, is locked by a live process, or does not match the run."""

    exit_code = 5
