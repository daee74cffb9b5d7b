"""Benchmarks (`flywheel bench`): one module per kernel module, plus the whole model."""
