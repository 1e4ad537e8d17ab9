"""OmniMind: a research platform for machine-consciousness experiments."""

__version__ = "0.1.0"
