"""Pegada: self-hosted page tracking and lead identification (RBTracking-compatible)."""

__version__ = "0.1.0"
