"""Annotation throughput: variants/second for 100,000 in-gene alleles on one core.

Target: >= 20,000/s. Uses the real gene sequence from ../shared when present (else random
sequence: the cost of annotation does not depend on which bases they are). Prints figures.
Usage: python benchmarks/annotate_throughput.py [--n 100000] [--build GRCh38]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from varannot.annotate import Annotator  # noqa: E402
from varannot.reference import InMemoryReference  # noqa: E402
from varannot.transcripts import load_transcripts  # noqa: E402


def reference(build: str) -> InMemoryReference:
    ref = InMemoryReference("benchmark", build)  # type: ignore[arg-type]
    shared = ROOT.parent / "shared"
    if shared.is_dir() and build == "GRCh38":
        from shared_mirror import grch38_segments

        for chrom, start, seq in grch38_segments(shared):
            ref.add(chrom, start, seq)
        return ref
    rng = random.Random(1)
    for _, chrom, start, end in load_transcripts(build).gene_regions():  # type: ignore[arg-type]
        ref.add(chrom, start, "".join(rng.choice("ACGT") for _ in range(end - start + 1)))
    return ref


def variants(a: Annotator, n: int) -> list[tuple[str, int, str, str]]:
    """Mostly coding SNVs, some indels, some intronic/UTR: like a targeted panel's calls."""
    rng = random.Random(7)
    out = []
    genes = list(a.transcripts.mane.values())
    while len(out) < n:
        t = rng.choice(genes)
        w = a.windows[t.gene]
        if rng.random() < 0.8:
            s, e = rng.choice(t.coding_intervals())
            pos = rng.randint(s, e)
        else:
            pos = rng.randint(t.start, t.end)
        ref = w.base(pos)
        if ref == "N":
            ref = "A"
        r = rng.random()
        if r < 0.8:
            alt = rng.choice([b for b in "ACGT" if b != ref])
            out.append((t.chrom, pos, ref, alt))
        elif r < 0.9:
            out.append((t.chrom, pos, ref + w.get(pos + 1, pos + rng.randint(1, 3)), ref))
        else:
            out.append(
                (
                    t.chrom,
                    pos,
                    ref,
                    ref + "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 3))),
                )
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--build", default="GRCh38")
    args = ap.parse_args()
    t0 = time.perf_counter()
    a = Annotator(reference(args.build), args.build)
    setup = time.perf_counter() - t0
    vs = variants(a, args.n)
    t0 = time.perf_counter()
    annotated = 0
    for chrom, pos, ref, alt in vs:
        if a.annotate(chrom, pos, ref, alt).annotation is not None:
            annotated += 1
    dt = time.perf_counter() - t0
    print(f"annotator set-up: {setup * 1000:.0f} ms")
    print(f"annotated {annotated:,} of {len(vs):,} in-gene alleles in {dt:.2f} s on one core")
    print(f"throughput: {len(vs) / dt:,.0f} variants/s (target >= 20,000/s)")


if __name__ == "__main__":
    main()
