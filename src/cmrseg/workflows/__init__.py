"""Workflows of several engine runs (label-budget sweeps, self-training rounds); they call the engine, never
the reverse."""
