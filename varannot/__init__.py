"""varannot: resistance-mutation annotation for MEN1, BCL2, BAX and TP53.

``varannot.annotate(inputs, fasta=...)`` is the notebook entry point (``varannot.analysis``);
it and ``Result`` load on first use, so ``import varannot`` stays cheap for the CLI.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Result", "__version__", "annotate"]

if TYPE_CHECKING:
    from .analysis import Result, annotate

_LAZY = ("annotate", "Result")


class _Package(types.ModuleType):
    """Keeps ``varannot.annotate`` the function: importing the submodule of the same name
    (the annotator, ``varannot/annotate.py``) would otherwise replace the attribute with the
    module. The submodule stays importable (``from varannot.annotate import Annotator``)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import analysis

        value = getattr(analysis, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'varannot' has no attribute {name!r}")
