"""Workflows: the domain libraries applied to data read from a store. Called by the CLI and the processes."""
