"""One content-sniffing rule for every door (CLI, library, service): file names lie.

A VCF named ``.ab1`` is read as a VCF and a trace named ``.vcf`` as a trace. The name only
breaks a tie when the bytes are neither (empty or unrecognisable): then a trace suffix picks the
trace reader, whose error message fits what the user meant to send.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

TRACE_SUFFIXES = (".ab1", ".abi", ".scf", ".fsa")
HEAD_BYTES = 136  # ABIF magic may sit after a 128-byte MacBinary header

Kind = Literal["vcf", "trace", "reads"]


def _looks_like_text_vcf(head: bytes) -> bool:
    return head[:2] == b"\x1f\x8b" or head[:3] == b"BCF" or head.lstrip(b"\xef\xbb\xbf")[:1] == b"#"


def sniff_kind(head: bytes, name: str | None = None) -> tuple[Kind, str]:
    """Kind and a canonical suffix from the first :data:`HEAD_BYTES` bytes (``name``: tie-break).

    A BAM is BGZF like a VCF.gz: callers with the whole file look inside (``is_alignment_file``).
    """
    if head[:4] == b"CRAM":
        return "reads", ".cram"
    if head[:4] == b"ABIF" or head[128:132] == b"ABIF":
        return "trace", ".ab1"
    if head[:4] == b".scf":
        return "trace", ".scf"
    if head[:2] == b"\x1f\x8b":
        return "vcf", ".vcf.gz"
    if not _looks_like_text_vcf(head) and name and name.lower().endswith(TRACE_SUFFIXES):
        return "trace", Path(name).suffix.lower()
    return "vcf", ".vcf"


def sniff_path(path: str | Path) -> Kind:
    """:func:`sniff_kind` of a file on disk (``-`` and unreadable paths: by name only)."""
    name = str(path)
    if name == "-":
        return "vcf"
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:
        return "trace" if name.lower().endswith(TRACE_SUFFIXES) else "vcf"
    return sniff_kind(head, name)[0]
