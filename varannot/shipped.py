"""The curated tables shipped with varannot (``reference/`` in the source tree).

Installed, they live in the wheel as the package ``varannot.data``; in a source checkout that
package does not exist, so the same files are read from ``reference/`` beside the package. Every
reader of shipped data goes through here, so both ways of running give the same tables.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent / "reference"


def read_bytes(name: str) -> bytes:
    try:
        return resources.files("varannot.data").joinpath(name).read_bytes()
    except ModuleNotFoundError:
        return (_CHECKOUT / name).read_bytes()


def read_text(name: str) -> str:
    return read_bytes(name).decode("utf-8")
