"""Build a local reference mirror from ``../shared/reference-sources`` (tests and README only).

The project ships no sequence. This script composes what the shared folder holds into one
FASTA whose records are named ``ACCESSION:START-END`` (``NC_000017.11:7659779-7692550``), the
layout ``varannot reference fetch`` reads when ``VARANNOT_EUTILS_URL`` is ``file://...``.
Only real sequence goes in: TP53 (whole region), BAX (exon segments), MEN1 (last-exon
fragment) and the BCL2 coding exons placed on the MANE model. Everything else stays N.
GRCh37 records are the same sequence at the verified per-gene offsets (see PROVENANCE.md of
the shared folder: ClinVar GRCh37 REF alleles of TP53 and BAX all match this shift).

Usage: python tests/shared_mirror.py ../shared OUT_DIR   (writes OUT_DIR/mirror.fa)
"""

from __future__ import annotations

import sys
from pathlib import Path

OFFSETS_37 = {"chr17": -96682, "chr11": -232528, "chr18": -2332767, "chr19": 503257}
ACC = {
    ("chr11", "GRCh38"): "NC_000011.10", ("chr11", "GRCh37"): "NC_000011.9",
    ("chr17", "GRCh38"): "NC_000017.11", ("chr17", "GRCh37"): "NC_000017.10",
    ("chr18", "GRCh38"): "NC_000018.10", ("chr18", "GRCh37"): "NC_000018.9",
    ("chr19", "GRCh38"): "NC_000019.10", ("chr19", "GRCh37"): "NC_000019.9",
}  # fmt: skip
_COMP = str.maketrans("ACGTN", "TGCAN")


def read_fasta(path: Path) -> list[tuple[str, str]]:
    recs: list[tuple[str, list[str]]] = []
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            recs.append((line[1:].split()[0], []))
        elif recs:
            recs[-1][1].append(line.strip().upper())
    return [(n, "".join(s)) for n, s in recs]


def grch38_segments(shared: Path) -> list[tuple[str, int, str]]:
    """(chrom, start, plus-strand sequence) of every real GRCh38 segment in the shared folder."""
    g = shared / "reference-sources" / "genomic"
    s = shared / "reference-sources" / "sequences"
    out: list[tuple[str, int, str]] = []
    for f in (
        "TP53_GRCh38_chr17_7659779-7692550_plus_strand_from_NG_017013.2.fa",
        "BAX_GRCh38_chr19_partial_segments_from_CellBase_exons.fa",
        "MEN1_GRCh38_chr11_64804201-64804781_plus_strand_fragment.fa",
    ):
        for name, seq in read_fasta(g / f):
            chrom, rng = name.split(":")
            start, end = (int(x) for x in rng.split("-"))
            assert end - start + 1 == len(seq), name
            out.append((chrom, start, seq))
    # BCL2 CDS (720 nt) on the MANE NM_000633.3 model (minus strand): exon 2 part is
    # c.1-585 = chr18:63318082-63318666, exon 3 part c.586-720 = chr18:63128625-63128759.
    cds = read_fasta(s / "BCL2_NM_000633_CDS.fa")[0][1]
    assert len(cds) == 720
    out.append(("chr18", 63318082, cds[:585].translate(_COMP)[::-1]))
    out.append(("chr18", 63128625, cds[585:].translate(_COMP)[::-1]))
    return out


def build_mirror(shared: Path, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "mirror.fa"
    with path.open("w") as fh:
        for chrom, start, seq in grch38_segments(shared):
            for build in ("GRCh38", "GRCh37"):
                s = start + (OFFSETS_37[chrom] if build == "GRCh37" else 0)
                fh.write(f">{ACC[(chrom, build)]}:{s}-{s + len(seq) - 1}\n")
                for i in range(0, len(seq), 70):
                    fh.write(seq[i : i + 70] + "\n")
    return path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python tests/shared_mirror.py SHARED_DIR OUT_DIR")
    print(build_mirror(Path(sys.argv[1]), Path(sys.argv[2])))
