"""BAM pileup: time to calls on a 2-million-read amplicon BAM, peak memory, and detection at
1 % VAF / 2,000x.

Prints figures only (no asserts). Everything is SYNTHETIC (``tests/bamsim.py``): 150-bp
amplicons tile the four genes; the amplicons over the loci varannot piles up (coding bases
± splice region, knowledge-base loci) get ``--target-depth`` reads each, the rest of the reads
(to ``--reads`` in all) go to amplicons tiling the rest of the gene spans (introns, UTRs), which
a pileup through the index never touches. Known SNVs at ``--vaf`` sit at random coding bases.
Reference: real TP53/BAX/BCL2 sequence from ``../shared`` and the synthetic MEN1 region (as in
the tests).

  (a) the big BAM: time from file to the calls document (Engine.read + Engine.run) in a fresh
      process, its peak RSS, detections and false calls;
  (b) ``--samples`` more samples with only the target amplicons: detection rate and false calls
      per sample.

Run: ``python benchmarks/bam_pileup.py [--reads 2000000] [--samples 4] [--variants 20]``
(use ``--reads 200000`` while developing; the machine is shared).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bamsim import SimVariant, write_amplicon_bam  # noqa: E402
from shared_mirror import grch38_segments  # noqa: E402
from synthetic import synthetic_men1, write_fasta  # noqa: E402

from varannot.api import Engine, RunOptions  # noqa: E402
from varannot.readers.bam import _merge  # noqa: E402

SHARED = Path(os.environ.get("VARANNOT_SHARED", ROOT.parent / "shared"))
CONTIGS = {"chr11": 64_900_000, "chr17": 7_700_000, "chr18": 63_400_000, "chr19": 49_000_000}
AMP = 150


def reference(d: Path) -> Path:
    recs = [r for r in grch38_segments(SHARED) if r[0] != "chr11"]
    recs.append(synthetic_men1(SHARED, "GRCh38"))
    return write_fasta(d / "GRCh38.bench.fa", recs, "real-except-MEN1-SYNTHETIC")


def tile(a: int, b: int) -> list[tuple[int, int]]:
    out = []
    s = a
    while s <= b:
        e = min(s + AMP - 1, b)
        out.append((max(a, e - AMP + 1), e))
        s = e + 1
    return out


def plan(engine: Engine, total: int, target_depth: int) -> list[tuple[str, int, int, int]]:
    targets = _merge(engine.read_targets())
    amps = [(c, a, b, target_depth) for c, s, e in targets for a, b in tile(s, e)]
    used = target_depth * len(amps)
    filler: list[tuple[str, int, int]] = []
    for _, c, s, e in engine.annotator.transcripts.gene_regions(flank=0):
        for a, b in tile(s, e):
            if not any(c == tc and a <= te and b >= ts for tc, ts, te in targets):
                filler.append((c, a, b))
    if filler and total > used:
        per = (total - used) // len(filler)
        extra = (total - used) - per * len(filler)
        amps += [(c, a, b, per + (1 if i < extra else 0)) for i, (c, a, b) in enumerate(filler)]
    order = {c: i for i, c in enumerate(CONTIGS)}
    return sorted(amps, key=lambda x: (order[x[0]], x[1]))


def pick_variants(engine: Engine, n: int, vaf: float, seed: int) -> list[SimVariant]:
    rng = random.Random(seed)
    ts = engine.annotator.transcripts
    out: list[SimVariant] = []
    codons: set[tuple[str, int]] = set()
    while len(out) < n:
        tx = rng.choice(list(ts.mane.values()))
        a, b = rng.choice(tx.coding_intervals())
        pos = rng.randint(a, b)
        ref = engine.reference.fetch(tx.chrom, pos, pos)
        key = (tx.gene, tx.codon_of(pos) or 0)
        if ref not in "ACGT" or key in codons:
            continue
        codons.add(key)
        out.append(SimVariant(tx.chrom, pos, ref, rng.choice([x for x in "ACGT" if x != ref]), vaf))
    return out


def _timed(fasta: str, bam: str, q: mp.Queue) -> None:  # type: ignore[type-arg]
    t0 = time.perf_counter()
    engine = Engine(fasta, "GRCh38")
    t1 = time.perf_counter()
    opts = RunOptions()
    c1 = time.process_time()
    doc = engine.run([engine.read(bam, opts)], opts)
    t2 = time.perf_counter()
    cpu = time.process_time() - c1
    found = [
        (v.chrom, v.pos, v.ref, v.alt) for s in doc.samples for v in s.variants if not v.filter
    ]
    lods = [
        d.limit_of_detection
        for c in doc.samples[0].calls
        for d in c.detection_limits
        if d.limit_of_detection is not None
    ]
    q.put(
        {
            "engine_s": t1 - t0,
            "calls_s": t2 - t1,
            "calls_cpu_s": cpu,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "found": found,
            "median_lod": sorted(lods)[len(lods) // 2] if lods else None,
        }
    )


def run_one(fasta: Path, bam: Path) -> dict[str, object]:
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    p = ctx.Process(target=_timed, args=(str(fasta), str(bam), q))
    p.start()
    res = q.get()
    p.join()
    return res  # type: ignore[no-any-return]


def score(res: dict[str, object], truth: list[SimVariant]) -> tuple[int, int]:
    found = set(res["found"])  # type: ignore[arg-type]
    want = {(v.chrom, v.pos, v.ref, v.alt) for v in truth}
    return len(found & want), len(found - want)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reads", type=int, default=2_000_000)
    ap.add_argument("--target-depth", type=int, default=2000)
    ap.add_argument("--vaf", type=float, default=0.01)
    ap.add_argument("--variants", type=int, default=20, help="per sample")
    ap.add_argument("--samples", type=int, default=4, help="extra target-only samples")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="varannot-bam-bench-") as tmp:
        d = Path(tmp)
        fasta = reference(d)
        engine = Engine(fasta, "GRCh38")
        amps = plan(engine, args.reads, args.target_depth)
        truth = pick_variants(engine, args.variants, args.vaf, seed=1)
        t0 = time.perf_counter()
        big = d / "big.bam"
        n = write_amplicon_bam(big, engine.reference.fetch, amps, truth, CONTIGS, seed=1)
        gen = time.perf_counter() - t0
        target_amps = sum(1 for a in amps if a[3] == args.target_depth)
        print(
            f"SYNTHETIC amplicon BAM: {n:,} reads, {len(amps):,} amplicons "
            f"({target_amps} over piled-up loci at {args.target_depth:,}x), "
            f"{big.stat().st_size / 1e6:.0f} MB, generated in {gen:.0f} s"
        )
        res = run_one(fasta, big)
        hit, false = score(res, truth)
        lod = res["median_lod"]
        print(
            f"(a) time to calls {res['calls_s']:.2f} s wall, {res['calls_cpu_s']:.2f} s CPU "
            f"(+ engine setup {res['engine_s']:.2f} s), load average {os.getloadavg()[0]:.1f}, "
            f"peak RSS {res['peak_rss_mb']:.0f} MB; detected {hit}/{len(truth)} at VAF "
            f"{args.vaf:g}, {false} false calls; median locus LoD "
            f"{(lod or 0) * 100:.2f} % at {args.target_depth:,}x"
        )
        hits, total, falses, times = hit, len(truth), [false], []
        target_only = [a for a in amps if a[3] == args.target_depth]
        for k in range(args.samples):
            tr = pick_variants(engine, args.variants, args.vaf, seed=100 + k)
            bam = d / f"s{k}.bam"
            write_amplicon_bam(bam, engine.reference.fetch, target_only, tr, CONTIGS, seed=100 + k)
            r = run_one(fasta, bam)
            h, f = score(r, tr)
            hits, total = hits + h, total + len(tr)
            falses.append(f)
            times.append(r["calls_s"])
            bam.unlink()
        print(
            f"(b) detection at VAF {args.vaf:g} / {args.target_depth:,}x over {1 + args.samples} "
            f"samples: {hits}/{total} = {100 * hits / total:.1f} %; false calls per sample "
            f"{falses} (max {max(falses)})"
            + (
                f"; time to calls per target-only sample {sum(times) / len(times):.2f} s"
                if times
                else ""
            )  # type: ignore[arg-type]
        )


if __name__ == "__main__":
    main()
