"""SYNTHETIC MEN1 reference for tests (not real genome sequence).

The shared folder has only MEN1's last coding exon and the 610-aa menin protein. Tests that
need MEN1 codons elsewhere (M322 = published M327, G326/G331, T344/T349) use this region: the
real exon layout of NM_001370259.2 / NM_000244.3, with the CDS back-translated from the real
610-aa protein using one fixed codon per amino acid. The 15 nt that only NM_000244.3 includes
(its alternative donor) are filled with synthetic alanine codons. Introns, UTRs and flanks are N.
Nothing here is genome sequence: never use it for anything but tests.
"""

from __future__ import annotations

from pathlib import Path

from varannot.hgvs import revcomp
from varannot.transcripts import load_transcripts

# one codon per amino acid (arbitrary, fixed, so tests are reproducible)
BACK = {
    "A": "GCC", "R": "CGC", "N": "AAC", "D": "GAC", "C": "TGC", "Q": "CAG", "E": "GAG",
    "G": "GGC", "H": "CAC", "I": "ATC", "L": "CTG", "K": "AAG", "M": "ATG", "F": "TTC",
    "P": "CCC", "S": "AGC", "T": "ACC", "W": "TGG", "Y": "TAC", "V": "GTG", "*": "TGA",
}  # fmt: skip


def men1_protein(shared: Path) -> str:
    f = shared / "reference-sources" / "sequences" / "MEN1_NP_001357188.2_protein_610aa.fa"
    return "".join(ln.strip() for ln in f.read_text().splitlines() if not ln.startswith(">"))


def synthetic_men1(shared: Path, build: str = "GRCh38") -> tuple[str, int, str]:
    """(chrom, start, plus-strand sequence) of a synthetic MEN1 region for ``build``."""
    ts = load_transcripts(build)  # type: ignore[arg-type]
    mane, legacy = ts.mane["MEN1"], ts.legacy["MEN1"]
    protein = men1_protein(shared)
    assert len(protein) == mane.protein_length == 610
    cds = "".join(BACK[a] for a in protein) + BACK["*"]
    lo, hi = min(legacy.start, mane.start) - 200, max(legacy.end, mane.end) + 200
    seq = ["N"] * (hi - lo + 1)
    # write the CDS onto the MANE exons (minus strand: c.1 at the highest coordinate)
    t0 = mane.cds_tx_start
    for i, base in enumerate(cds):
        g = mane.tx_to_genomic(t0 + i)
        seq[g - lo] = revcomp(base)
    # the NM_000244.3-only 15 nt: 5 synthetic alanine codons (GCT)
    for g in range(legacy.start, legacy.end + 1):
        if legacy.genomic_to_tx(g) is not None and mane.genomic_to_tx(g) is None:
            t = legacy.genomic_to_tx(g)
            if t is not None and legacy.cds_tx_start <= t <= legacy.cds_tx_end:
                seq[g - lo] = revcomp("GCT"[(t - legacy.cds_tx_start) % 3])
    return mane.chrom, lo, "".join(seq)


def write_fasta(path: Path, records: list[tuple[str, int, str]], note: str = "") -> Path:
    with path.open("w") as fh:
        for chrom, start, seq in records:
            fh.write(f">{chrom}:{start}-{start + len(seq) - 1} {note}\n")
            for i in range(0, len(seq), 70):
                fh.write(seq[i : i + 70] + "\n")
    return path
