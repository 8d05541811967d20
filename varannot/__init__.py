"""varannot: resistance-mutation annotation for MEN1, BCL2, BAX and TP53."""

__version__ = "0.1.0"
