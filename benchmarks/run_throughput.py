"""Whole-run throughput: a SYNTHETIC run folder of 200 VCFs and 96 Sanger traces, --jobs 1 vs 2.

The run is generated in a temporary folder: 200 single-sample panel VCFs (``--records`` records
each, mostly outside the four genes, 0-3 coding SNVs of TP53/BCL2/BAX read off the real
reference, so REFs match) and 48 samples x forward + reverse SYNTHETIC traces over TP53
(``varannot.sanger.simulate``: simulated chromatograms, not real data). It is then run exactly as
``varannot annotate RUN --out-dir OUT`` runs it (``varannot.run.execute_run``: reading,
annotation, calls, annotated VCFs, report), once per ``--jobs`` value, and prints wall time per
phase and whether the outputs of all runs are byte-identical. Prints figures; asserts nothing.

Needs ``../shared`` (the real TP53/BCL2/BAX sequence). Usage:
``python benchmarks/run_throughput.py [--vcfs 200] [--traces 96] [--records 500] [--jobs 1 2]``
"""

from __future__ import annotations

import argparse
import filecmp
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from shared_mirror import grch38_segments  # noqa: E402
from synthetic import synthetic_men1, write_fasta  # noqa: E402

from varannot.api import RunOptions  # noqa: E402
from varannot.genome import CHROM_LENGTHS  # noqa: E402
from varannot.knowledge import KnowledgeBase  # noqa: E402
from varannot.run import execute_run  # noqa: E402
from varannot.sanger.simulate import SimVariant, simulate_trace, write_abif  # noqa: E402

SHARED = Path(os.environ.get("VARANNOT_SHARED", ROOT.parent / "shared"))
TP53_START = 7659779
HEADER = (
    "##fileformat=VCFv4.2\n"
    + "".join(
        f"##contig=<ID=chr{c},length={CHROM_LENGTHS[c][0]}>\n"
        for c in [str(i) for i in range(1, 23)] + ["X"]
    )
    + '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">\n'
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sample}\n"
)


def coding_sites(segments: list[tuple[str, int, str]]) -> list[tuple[str, int, str]]:
    """(chrom, pos, ref) inside the real TP53/BCL2/BAX sequence (N-free positions)."""
    rng = random.Random(3)
    out = []
    for chrom, start, seq in segments:
        if chrom == "chr11":
            continue
        for _ in range(60):
            i = rng.randrange(len(seq))
            if seq[i] in "ACGT":
                out.append((chrom, start + i, seq[i]))
    return out


def make_vcf(
    path: Path, sample: str, n: int, sites: list[tuple[str, int, str]], rng: random.Random
) -> None:
    """A panel VCF: ``n`` SNVs outside the genes plus 0-3 in-gene SNVs (REF from the genome)."""
    rows: list[tuple[int, int, str]] = [
        (rng.randrange(1, 23), rng.randrange(1_000_000, 40_000_000), "ACGT"[rng.randrange(4)])
        for _ in range(n)
    ]
    rows += [(int(ch[3:]), p, r) for ch, p, r in rng.sample(sites, rng.randrange(0, 4))]
    rows.sort()
    with path.open("w") as fh:
        fh.write(HEADER.format(sample=sample))
        for c, pos, ref in rows:
            alt = rng.choice([b for b in "ACGT" if b != ref])
            dp = rng.randrange(80, 400)
            ad = rng.randrange(5, dp // 2)
            fh.write(
                f"chr{c}\t{pos}\t.\t{ref}\t{alt}\t50\tPASS\t.\tGT:AD:DP\t0/1:{dp - ad},{ad}:{dp}\n"
            )


def make_run(run: Path, n_vcfs: int, n_traces: int, records: int) -> Path:
    """The run folder plus the region FASTA (returned) it is annotated against."""
    segments = grch38_segments(SHARED)
    recs = [r for r in segments if r[0] != "chr11"] + [synthetic_men1(SHARED, "GRCh38")]
    fasta = write_fasta(run.parent / "GRCh38.regions.fa", recs, "benchmark")
    sites = coding_sites(segments)
    rng = random.Random(11)
    run.mkdir()
    for k in range(n_vcfs):
        make_vcf(run / f"P{k:04d}.vcf", f"P{k:04d}", records, sites, rng)
    tp53 = next(seq for chrom, start, seq in segments if start == TP53_START)
    for k in range(n_traces // 2):
        s = rng.randrange(12000, len(tp53) - 900)
        while "N" in tp53[s : s + 650]:
            s = rng.randrange(12000, len(tp53) - 900)
        i = s + rng.randrange(150, 450)
        variants = (
            [SimVariant(i, tp53[i], rng.choice([b for b in "ACGT" if b != tp53[i]]))]
            if k % 3
            else []
        )
        for strand in ("+", "-"):
            sim = simulate_trace(
                tp53, variants, start=s, length=650, strand=strand,
                seed=2 * k + (strand == "-"), name=f"T{k:03d}.{'F' if strand == '+' else 'R'}.ab1",
            )  # fmt: skip
            write_abif(sim, run / sim.name)
    return fasta


def same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    stack = [cmp]
    while stack:
        c = stack.pop()
        if c.left_only or c.right_only or c.diff_files or c.funny_files:
            return False
        _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
        if mismatch or errors:
            return False
        stack.extend(c.subdirs.values())
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vcfs", type=int, default=200)
    ap.add_argument("--traces", type=int, default=96)
    ap.add_argument("--records", type=int, default=500, help="records per VCF")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs per --jobs value (best and median shown)"
    )
    args = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"needs the shared data folder ({SHARED})")
    kb = KnowledgeBase.load()
    with tempfile.TemporaryDirectory(prefix="varannot-run-bench-") as tmp:
        run = Path(tmp) / "run"
        t0 = time.perf_counter()
        fasta = make_run(run, args.vcfs, args.traces, args.records)
        print(
            f"SYNTHETIC run: {args.vcfs} VCFs x {args.records} records + {args.traces} simulated "
            f"traces ({args.traces // 2} samples F+R), generated in {time.perf_counter() - t0:.1f} s"
        )
        print(f"machine: {os.cpu_count()} cores")
        outs = []
        for jobs in args.jobs:
            walls = []
            for r in range(args.repeat):
                out = Path(tmp) / f"out-j{jobs}-{r}"
                t0 = time.perf_counter()
                res = execute_run(
                    [str(run)],
                    fasta=fasta,
                    build="GRCh38",
                    kb=kb,
                    options=RunOptions(),
                    out_dir=out,
                    jobs=jobs,
                    quiet=True,
                )
                walls.append((time.perf_counter() - t0, res.timings))
                outs.append(out)
            wall, t = min(walls, key=lambda w: w[0])
            med = statistics.median(w for w, _ in walls)
            n_var = sum(len(s.variants) for s in res.doc.samples)
            print(
                f"--jobs {jobs}: best of {args.repeat} {wall:6.2f} s (median {med:.2f} s) = setup "
                f"{t['setup']:.2f} + read {t['read']:.2f} + annotate/call {t['annotate_call']:.2f}"
                f" + write {t['write']:.2f}; {len(res.units)} units, {len(res.doc.samples)} "
                f"samples, {n_var} variants in the genes, {(args.vcfs + args.traces) / wall:.0f} "
                "files/s"
            )
        if len(outs) > 1:
            same = all(same_tree(outs[0], o) for o in outs[1:])
            print(f"outputs identical across --jobs {args.jobs}: {same}")


if __name__ == "__main__":
    main()
