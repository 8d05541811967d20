"""Fixtures: references built at test time from ``../shared`` (never committed).

``../shared`` must exist in CI (``CI=true``): there a missing folder fails the run instead of
skipping the tests that need it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from shared_mirror import OFFSETS_37, grch38_segments
from synthetic import synthetic_men1, write_fasta

from varannot.annotate import Annotator
from varannot.reference import FastaReference

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("VARANNOT_SHARED", ROOT.parent / "shared"))


def require_shared() -> Path:
    if not SHARED.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the shared data folder {SHARED} is missing")
        pytest.skip(f"shared data folder {SHARED} not present")
    return SHARED


@pytest.fixture(scope="session")
def shared() -> Path:
    return require_shared()


def _real_records(shared: Path, build: str) -> list[tuple[str, int, str]]:
    out = []
    for chrom, start, seq in grch38_segments(shared):
        s = start + (OFFSETS_37[chrom] if build == "GRCh37" else 0)
        out.append((chrom, s, seq))
    return out


@pytest.fixture(scope="session")
def real_fasta(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Region FASTA per build with only the real sequence of the shared folder."""
    d = tmp_path_factory.mktemp("realref")
    return {
        b: write_fasta(d / f"{b}.regions.fa", _real_records(shared, b), "real")
        for b in ("GRCh38", "GRCh37")
    }


@pytest.fixture(scope="session")
def synthetic_men1_fasta(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """SYNTHETIC MEN1 region per build (back-translated real protein on the real exon layout)."""
    d = tmp_path_factory.mktemp("synthmen1")
    return {
        b: write_fasta(d / f"{b}.men1.synthetic.fa", [synthetic_men1(shared, b)], "SYNTHETIC")
        for b in ("GRCh38", "GRCh37")
    }


@pytest.fixture(scope="session")
def kb_fasta(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real TP53/BAX/BCL2 records plus the SYNTHETIC MEN1 region (no real MEN1 sequence)."""
    d = tmp_path_factory.mktemp("kbref")
    out = {}
    for b in ("GRCh38", "GRCh37"):
        recs = [r for r in _real_records(shared, b) if r[0] != "chr11"]
        recs.append(synthetic_men1(shared, b))
        out[b] = write_fasta(d / f"{b}.kb.fa", recs, "real-except-MEN1-SYNTHETIC")
    return out


@pytest.fixture(scope="session")
def annotator38(real_fasta: dict[str, Path]) -> Annotator:
    return Annotator(FastaReference(real_fasta["GRCh38"]), "GRCh38")


@pytest.fixture(scope="session")
def annotator37(real_fasta: dict[str, Path]) -> Annotator:
    return Annotator(FastaReference(real_fasta["GRCh37"]), "GRCh37")


@pytest.fixture(scope="session")
def men1_annotator38(synthetic_men1_fasta: dict[str, Path]) -> Annotator:
    return Annotator(FastaReference(synthetic_men1_fasta["GRCh38"]), "GRCh38")


@pytest.fixture(scope="session")
def kb_annotators(kb_fasta: dict[str, Path]) -> dict[str, Annotator]:
    return {b: Annotator(FastaReference(p), b) for b, p in kb_fasta.items()}  # type: ignore[arg-type]
