"""Write the example's Sanger traces (SYNTHETIC) from your reference FASTA.

No public TP53 Sanger trace carries a resistance mutation, and the project ships no genome
sequence, so the example's traces are simulated here, at run time, from the FASTA you fetched:
sample S04, forward and reverse reads over TP53 exon 5 carrying R175H (c.524G>A,
chr17:7675088 C>T, GRCh38) heterozygous. ``varannot.sanger.simulate`` draws the peaks
(noise, dye blobs, a naive base caller); see its docstring.

Run: ``python examples/make_traces.py ref/GRCh38.regions.fa [examples/run]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from varannot.reference import FastaReference
from varannot.sanger.simulate import SimVariant, simulate_trace, write_abif

R175H = 7675088  # chr17, GRCh38; the plus-strand base is C (TP53 is on the minus strand)
SPAN = 320  # bases simulated either side of the variant


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.strip().splitlines()[-1])
    fasta = FastaReference(sys.argv[1], "GRCh38")
    out = Path(sys.argv[2]) if len(sys.argv) == 3 else Path(__file__).resolve().parent / "run"
    start = R175H - SPAN
    seq = fasta.fetch("chr17", start, R175H + SPAN)
    if seq[SPAN] != "C" or "N" in seq:
        sys.exit(f"{sys.argv[1]}: chr17:{start}-{R175H + SPAN} is not the GRCh38 TP53 sequence")
    variant = SimVariant(SPAN, "C", "T", "het")
    for strand, read in (("+", "F"), ("-", "R")):
        sim = simulate_trace(
            seq,
            [variant],
            start=20,
            length=len(seq) - 40,
            strand=strand,  # type: ignore[arg-type]
            seed=175 + (strand == "-"),
            name=f"S04.{read}.ab1",
        )
        path = write_abif(sim, out / sim.name, sample_name="S04")
        print(path)


if __name__ == "__main__":
    main()
