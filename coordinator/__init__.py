"""The driver: config models, CLI, workflows, run workspace and reports."""

__version__ = "0.1.0"
