"""Cohort case of issue 19: S samples x R in-gene records, end to end in one process.

The issue's row is 500 samples x 5,000 in-gene records (2.5M genotypes); the defaults are a
reduced size so the script finishes on a loaded machine. The VCF is SYNTHETIC: SNVs at random
N-free positions of the real TP53/BCL2/BAX sequence from ``../shared`` (REF read off it) and of the
SYNTHETIC MEN1 locus of ``tests/synthetic.py``; each sample carries an ALT with probability
``--carrier`` (GT 0/1 with AD/DP), otherwise 0/0. Phases timed with CPU time
(``time.process_time``; wall time is noise on a shared machine): reading (``Engine.read``),
``Engine.run`` (annotation, haplotypes, knowledge base, calls) and the TSV writer. Also prints
how many distinct alleles were annotated vs observations, genotypes/s and peak RSS.
``--profile N`` prints the top N functions of a cProfile run (cumulative). Asserts nothing.

Usage: ``python benchmarks/cohort.py [--samples 100] [--records 1000] [--profile 25]``
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from shared_mirror import grch38_segments  # noqa: E402
from synthetic import synthetic_men1, write_fasta  # noqa: E402

from varannot.api import Engine, RunOptions  # noqa: E402
from varannot.genome import CHROM_LENGTHS  # noqa: E402
from varannot.writers import calls_tsv  # noqa: E402

SHARED = Path(os.environ.get("VARANNOT_SHARED", ROOT.parent / "shared"))


def make_inputs(tmp: Path, n_samples: int, n_records: int, carrier: float) -> tuple[Path, Path]:
    recs = [r for r in grch38_segments(SHARED) if r[0] != "chr11"]
    recs.append(synthetic_men1(SHARED, "GRCh38"))
    fasta = write_fasta(tmp / "ref.fa", recs, "real-except-MEN1-SYNTHETIC")
    rng = random.Random(19)
    sites: set[tuple[str, int, str]] = set()
    while len(sites) < n_records:
        chrom, start, seq = rng.choice(recs)
        i = rng.randrange(len(seq))
        if seq[i] in "ACGT":
            sites.add((chrom, start + i, seq[i]))
    order = {f"chr{c}": k for k, c in enumerate(CHROM_LENGTHS)}
    samples = [f"S{k:04d}" for k in range(n_samples)]
    vcf = tmp / "cohort.vcf"
    with vcf.open("w") as fh:
        fh.write("##fileformat=VCFv4.2\n")
        for c in ("11", "17", "18", "19"):
            fh.write(f"##contig=<ID=chr{c},length={CHROM_LENGTHS[c][0]}>\n")
        fh.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
        fh.write('##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">\n')
        fh.write('##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n')
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples))
        fh.write("\n")
        for chrom, pos, ref in sorted(sites, key=lambda s: (order[s[0]], s[1])):
            alt = rng.choice([b for b in "ACGT" if b != ref])
            cols = []
            for _ in samples:
                dp = rng.randrange(60, 300)
                if rng.random() < carrier:
                    ad = rng.randrange(dp // 10, dp // 2)
                    cols.append(f"0/1:{dp - ad},{ad}:{dp}")
                else:
                    cols.append(f"0/0:{dp},0:{dp}")
            fh.write(f"{chrom}\t{pos}\t.\t{ref}\t{alt}\t50\tPASS\t.\tGT:AD:DP\t" + "\t".join(cols))
            fh.write("\n")
    return fasta, vcf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--carrier", type=float, default=0.05)
    ap.add_argument("--profile", type=int, default=0, metavar="N")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as td:
        fasta, vcf = make_inputs(Path(td), args.samples, args.records, args.carrier)
        engine = Engine(fasta)
        opts = RunOptions()
        prof = cProfile.Profile() if args.profile else None
        if prof:
            prof.enable()
        t0 = time.process_time()
        batch = engine.read(vcf, opts)
        t1 = time.process_time()
        doc = engine.run([batch], opts)
        t2 = time.process_time()
        text = calls_tsv(doc)
        t3 = time.process_time()
        if prof:
            prof.disable()
        gts = args.samples * args.records
        total = t3 - t0
        print(
            f"cohort {args.samples} samples x {args.records} in-gene records = {gts:,} genotypes; "
            f"{len(batch.observations):,} observations, {len(engine._cache):,} distinct alleles "
            "annotated"
        )
        print(
            f"CPU s: read {t1 - t0:.2f}, run {t2 - t1:.2f}, tsv {t3 - t2:.2f}; total {total:.2f} "
            f"({gts / total:,.0f} genotypes/s); {len(text.splitlines()):,} TSV lines; "
            f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
            + (" (under cProfile)" if prof else "")
        )
        if prof:
            pstats.Stats(prof).sort_stats("cumulative").print_stats(args.profile)


if __name__ == "__main__":
    main()
