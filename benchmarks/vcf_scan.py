"""How fast does ``read_vcf`` find the four genes, and what does a cohort slice cost?

Prints figures only (no asserts):
  (a) indexed region fetch on a large vs a 10x smaller bgzipped+tabix VCF (should be flat);
  (b) unindexed streaming of the large file vs ``bcftools view -t`` (if bcftools is on PATH):
      ``read_vcf`` scans the text and lets htslib parse only lines that may overlap the regions;
  (c) a cohort slice (records x samples): genotypes processed per second and peak RSS.

Quick run: ``python benchmarks/vcf_scan.py --records 100000 --small 10000 --cohort-records 200``.
Each measurement runs in a fresh interpreter so peak RSS (ru_maxrss) belongs to that read alone.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from varannot.genome import CHROM_LENGTHS  # noqa: E402

GENES = {  # GRCh38
    "TP53": ("chr17", 7661779, 7687550),
    "MEN1": ("chr11", 64803514, 64811294),
    "BAX": ("chr19", 48954815, 48961798),
    "BCL2": ("chr18", 63123346, 63320128),
}
CHROMS = [c for c in CHROM_LENGTHS if c != "MT"]


def _header(samples: list[str]) -> str:
    lines = ["##fileformat=VCFv4.2", "##reference=GRCh38"]
    lines += [f"##contig=<ID=chr{c},length={CHROM_LENGTHS[c][0]}>" for c in CHROMS]
    lines += [
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">',
    ]
    cols = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
    if samples:
        cols += "\tFORMAT\t" + "\t".join(samples)
    return "\n".join(lines + [cols]) + "\n"


def make_genome_vcf(path: Path, n: int) -> Path:
    """``n`` single-sample records spread over every chromosome, bgzipped and tabix-indexed."""
    import pysam

    total = sum(CHROM_LENGTHS[c][0] for c in CHROMS)
    step = total / n
    bases = "ACGT"
    with open(path, "w") as out:
        out.write(_header(["S1"]))
        for c in CHROMS:
            length = CHROM_LENGTHS[c][0]
            k = int(length / step)
            gap = max(length // (k + 1), 1)
            buf = []
            for i in range(1, k + 1):
                pos = i * gap
                ref = bases[pos % 4]
                alt = bases[(pos + 1) % 4]
                buf.append(f"chr{c}\t{pos}\t.\t{ref}\t{alt}\t50\tPASS\t.\tGT:AD:DP\t0/1:15,12:27\n")
            out.writelines(buf)
    gz = pysam.tabix_index(str(path), preset="vcf", force=True)
    return Path(gz)


def make_cohort_vcf(path: Path, n_records: int, n_samples: int) -> Path:
    """A 1000-Genomes-like slice: phased GT only; allele frequencies log-uniform between one
    copy in the cohort and 0.5 (the rare-heavy spectrum of real data), so most samples are 0|0.
    """
    import math

    import pysam

    rng = random.Random(7)
    samples = [f"HG{i:05d}" for i in range(n_samples)]
    lo, hi = math.log(1 / (2 * n_samples)), math.log(0.5)
    with open(path, "w") as out:
        out.write(_header(samples))
        for i in range(n_records):
            af = math.exp(rng.uniform(lo, hi))
            gts = []
            for _ in range(n_samples):
                a, b = rng.random() < af, rng.random() < af
                gts.append(f"{int(a)}|{int(b)}")
            out.write(
                f"chr17\t{7661779 + i * 10}\t.\tC\tT\t100\tPASS\t.\tGT\t" + "\t".join(gts) + "\n"
            )
    return Path(pysam.tabix_index(str(path), preset="vcf", force=True))


def child(args: argparse.Namespace) -> None:
    """Run one read in this process and print JSON (time, counts, peak RSS)."""
    import resource

    import pysam  # noqa: F401  - import cost is per process, not per read

    from varannot.readers.vcf import Region, read_vcf

    regions = [Region(*v) for v in GENES.values()] if args.regions else None
    t0 = time.perf_counter()
    b = read_vcf(args.child, regions=regions)
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            dict(
                seconds=dt,
                records_read=b.records_read,
                outside=b.records_outside_genes,
                observations=len(b.observations),
                samples=len(b.samples),
                indexed=b.details.get("indexed_fetch"),
                peak_rss_mb=rss,
            )
        )
    )


def run_child(path: Path, regions: bool) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", str(path)] + (["--regions"] if regions else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000, help="large genome-wide file")
    ap.add_argument("--small", type=int, default=100_000, help="small genome-wide file")
    ap.add_argument("--cohort-records", type=int, default=2000)
    ap.add_argument("--cohort-samples", type=int, default=2504)
    ap.add_argument("--repeat", type=int, default=3, help="best-of for timings")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--regions", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    tmp = Path(tempfile.mkdtemp(prefix="vcf-scan-"))
    try:
        t = time.perf_counter()
        big = make_genome_vcf(tmp / "big.vcf", args.records)
        small = make_genome_vcf(tmp / "small.vcf", args.small)
        print(
            f"generated {args.records:,} + {args.small:,} records in {time.perf_counter() - t:.1f}s"
        )

        def best(path: Path, regions: bool) -> dict[str, float]:
            runs = [run_child(path, regions) for _ in range(args.repeat)]
            return min(runs, key=lambda r: r["seconds"])

        print("\n(a) indexed fetch of TP53+MEN1+BAX+BCL2 (GRCh38)")
        for label, path, n in (("small", small, args.small), ("large", big, args.records)):
            r = best(path, True)
            print(
                f"  {label:5s} {n:>9,} records: {r['seconds'] * 1000:7.1f} ms, read "
                f"{r['records_read']:,} records, {r['observations']:,} observations, "
                f"indexed={r['indexed']}, peak RSS {r['peak_rss_mb']:.0f} MB"
            )

        print("\n(b) unindexed streaming of the large file with the same regions")
        plain = tmp / "noindex" / "big.vcf.gz"
        plain.parent.mkdir()
        shutil.copy(big, plain)
        r = best(plain, True)
        rate = r["records_read"] / r["seconds"]
        print(
            f"  read_vcf (region scan)  : {r['seconds']:.2f} s ({rate:,.0f} records/s), "
            f"{r['outside']:,} outside, {r['observations']} kept, peak RSS {r['peak_rss_mb']:.0f} MB"
        )
        bcftools = shutil.which("bcftools")
        if bcftools:
            targets = ",".join(f"{c}:{s}-{e}" for c, s, e in GENES.values())
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                out = subprocess.run(
                    [bcftools, "view", "-H", "-t", targets, str(plain)],
                    check=True,
                    capture_output=True,
                ).stdout
                times.append(time.perf_counter() - t)
            kept = out.count(b"\n")
            print(f"  bcftools view -t        : {min(times):.2f} s ({kept} records kept)")
            print(f"  read_vcf / bcftools     : {r['seconds'] / min(times):.2f}x (target <= 1.5x)")
        else:
            print("  bcftools not on PATH: comparison skipped (apt-get install -y bcftools)")

        print(
            f"\n(c) cohort slice: {args.cohort_records:,} records x {args.cohort_samples:,} samples"
        )
        t = time.perf_counter()
        cohort = make_cohort_vcf(tmp / "cohort.vcf", args.cohort_records, args.cohort_samples)
        print(
            f"  generated in {time.perf_counter() - t:.1f}s ({cohort.stat().st_size / 1e6:.1f} MB bgzip)"
        )
        r = best(cohort, False)
        gts = args.cohort_records * args.cohort_samples
        print(
            f"  read_vcf: {r['seconds']:.2f} s, {gts / r['seconds'] / 1e6:.1f} M genotypes/s, "
            f"{r['observations']:,} observations ({r['observations'] / r['seconds']:,.0f}/s), "
            f"peak RSS {r['peak_rss_mb']:.0f} MB"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
