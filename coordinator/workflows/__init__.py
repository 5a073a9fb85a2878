"""Workflow managers: what the driver runs for each experiment type."""
