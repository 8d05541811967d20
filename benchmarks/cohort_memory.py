"""Peak RSS of ``varannot annotate COHORT.vcf -o OUT`` for 1k, 10k and 100k samples.

Generates SYNTHETIC cohort VCFs in a temporary folder: ``--records`` records on TP53 (R175H,
R248W, R273H, Y220C read off the real GRCh38 reference, so REFs match) plus as many outside the
genes, each with every sample's ``GT:AD:DP`` (1% carriers, the rest 0/0). Each size runs in a
fresh process (``--one``) so its peak RSS (``ru_maxrss``) is its own. Prints figures (peak RSS,
wall time, output size); asserts nothing. Memory must stay flat in the number of samples.

Needs ``../shared``. Usage:
``python benchmarks/cohort_memory.py [--sizes 1000 10000 100000] [--output out.jsonl]``
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from shared_mirror import grch38_segments  # noqa: E402
from synthetic import synthetic_men1, write_fasta  # noqa: E402

SHARED = Path(os.environ.get("VARANNOT_SHARED", ROOT.parent / "shared"))
TP53_SITES = [(7675088, "C", "T"), (7674221, "G", "A"), (7673802, "C", "T"), (7674872, "T", "C")]
HEADER = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=chr1,length=248956422>\n"
    "##contig=<ID=chr17,length=83257441>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">\n'
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
)


def make_cohort(path: Path, n: int, records: int) -> None:
    """One line per record with ``n`` sample columns, written line by line."""
    rng = random.Random(n)
    rows = [("chr1", 1_000_000 + 1000 * i, "A", "G") for i in range(records)]
    rows += [("chr17", p, r, a) for p, r, a in TP53_SITES[:records]]
    with path.open("w") as fh:
        fh.write(HEADER)
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t")
        fh.write("\t".join(f"S{i:06d}" for i in range(n)) + "\n")
        for chrom, pos, ref, alt in rows:
            cells = ["0/1:60,40:100" if rng.random() < 0.01 else "0/0:100,0:100" for _ in range(n)]
            fh.write(f"{chrom}\t{pos}\t.\t{ref}\t{alt}\t50\tPASS\t.\tGT:AD:DP\t")
            fh.write("\t".join(cells) + "\n")


def one(vcf: Path, fasta: Path, out: Path) -> None:
    """Run the CLI in this process and print peak RSS (MiB) and wall time."""
    from typer.testing import CliRunner

    from varannot.cli import app

    t0 = time.perf_counter()
    res = CliRunner().invoke(
        app, ["annotate", str(vcf), "--fasta", str(fasta), "--build", "GRCh38", "-o", str(out)]
    )
    wall = time.perf_counter() - t0
    if res.exit_code not in (0, 3):
        print(res.output, res.exception, file=sys.stderr)
        raise SystemExit(res.exit_code)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{rss:.0f} {wall:.1f} {out.stat().st_size}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--records", type=int, default=2, help="TP53 records (and as many outside)")
    ap.add_argument("--output", default="out.jsonl", help="output file name (suffix = format)")
    ap.add_argument("--one", nargs=3, metavar=("VCF", "FASTA", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        one(*map(Path, a.one))
        return
    with tempfile.TemporaryDirectory(prefix="varannot-cohort-") as tmp:
        d = Path(tmp)
        segments = grch38_segments(SHARED)
        recs = [r for r in segments if r[0] != "chr11"] + [synthetic_men1(SHARED, "GRCh38")]
        fasta = write_fasta(d / "GRCh38.regions.fa", recs, "benchmark")
        print(f"{'samples':>8} {'VCF MB':>7} {'peak RSS MiB':>13} {'wall s':>7} {'out MB':>8}")
        for n in a.sizes:
            vcf = d / f"cohort{n}.vcf"
            make_cohort(vcf, n, a.records)
            out = d / f"{n}-{a.output}"
            r = subprocess.run(
                [sys.executable, __file__, "--one", str(vcf), str(fasta), str(out)],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            if r.returncode:
                raise SystemExit(f"{n} samples: exit {r.returncode}\n{r.stderr}{r.stdout}")
            rss, wall, size = r.stdout.split()
            print(
                f"{n:>8} {vcf.stat().st_size / 1e6:>7.1f} {float(rss):>13.0f} {float(wall):>7.1f}"
                f" {int(size) / 1e6:>8.1f}"
            )
            vcf.unlink()
            out.unlink()


if __name__ == "__main__":
    main()
