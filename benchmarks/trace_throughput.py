"""Sanger trace caller: plate throughput and accuracy on SYNTHETIC traces.

Prints figures only (no asserts):
  (a) a 96-trace plate (48 samples x forward + reverse, ~650-base reads over TP53) written as
      ABIF, then called with 2 worker processes: wall time, traces/s and traces/s per core
      (target: 96 traces in < 10 s on 2 cores), plus a single-process figure;
  (b) sensitivity and false positives on N single-read samples with one known variant each
      (het SNV, hom SNV, het 1-bp and 2-bp insertions/deletions), with noise and dye blobs;
  (c) the time to draw one trace snapshot PNG (the report embeds one per called variant).

All traces are simulated by ``varannot.sanger.simulate`` (no real trace carries these variants).
Reference: TP53 GRCh38 from ``../shared/reference-sources`` when present (else a random
sequence), plus a random 200 kb decoy region so seeding works against a realistic panel size.

Run: ``python benchmarks/trace_throughput.py [--accuracy-traces 200] [--plots]``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from varannot.models import ReferenceRegion  # noqa: E402
from varannot.sanger import call_traces  # noqa: E402
from varannot.sanger.simulate import SimVariant, simulate_trace, write_abif  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VARANNOT_SHARED", ROOT.parent / "shared"))
TP53_FA = (
    SHARED
    / "reference-sources/genomic/TP53_GRCh38_chr17_7659779-7692550_plus_strand_from_NG_017013.2.fa"
)
TP53_START = 7659779

_REFS: list[ReferenceRegion] = []


def references() -> list[ReferenceRegion]:
    rng = random.Random(7)
    if TP53_FA.is_file():
        seq = "".join(ln.strip() for ln in TP53_FA.open() if not ln.startswith(">")).upper()
    else:
        seq = "".join(rng.choice("ACGT") for _ in range(32772))
    decoy = "".join(rng.choice("ACGT") for _ in range(200_000))
    return [
        ReferenceRegion(name="TP53", chrom="chr17", start=TP53_START, sequence=seq, gene="TP53"),
        ReferenceRegion(name="decoy", chrom="decoy", start=1, sequence=decoy, gene=None),
    ]


def _init(refs: list[ReferenceRegion]) -> None:
    _REFS[:] = refs


def _call(job: tuple[list[str], str, str | None]) -> tuple[str, list[tuple[object, ...]]]:
    paths, sample, plot_dir = job
    batch = call_traces(
        paths, sample=sample, references=_REFS, plot_dir=Path(plot_dir) if plot_dir else None
    )
    return sample, [
        (o.chrom, o.pos, o.ref, o.alt, o.genotype or "", bool(o.filters))
        for o in batch.observations
    ]


def random_variant(seq: str, pos: int, kind: str, rng: random.Random) -> SimVariant:
    ref = seq[pos]
    if kind in ("het_snv", "hom_snv"):
        alt = rng.choice([b for b in "ACGT" if b != ref])
        return SimVariant(pos, ref, alt, "het" if kind == "het_snv" else "hom")
    size = 1 if kind.endswith("1") else 2
    if kind.startswith("het_del"):
        return SimVariant(pos, seq[pos : pos + size + 1], ref)
    return SimVariant(pos, ref, ref + "".join(rng.choice("ACGT") for _ in range(size)))


def truth_key(v: SimVariant, seq: str) -> tuple[int, str, str]:
    """Normalised (left-aligned) 1-based genomic key of a simulated variant."""
    pos, ref, alt = v.pos, v.ref, v.alt
    if len(ref) != len(alt):  # left-align anchored indels
        if len(ref) > len(alt):
            d = len(ref) - 1
            start = pos + 1
            while start > 1 and seq[start - 1] == seq[start + d - 1]:
                start -= 1
            pos, ref, alt = start - 1, seq[start - 1 : start + d], seq[start - 1]
        else:
            ins = alt[1:]
            start = pos + 1
            while start > 1 and seq[start - 1] == ins[-1]:
                ins = ins[-1] + ins[:-1]
                start -= 1
            pos, ref, alt = start - 1, seq[start - 1], seq[start - 1] + ins
    return TP53_START + pos, ref, alt


def usable_start(seq: str, rng: random.Random, length: int) -> int:
    while True:
        s = rng.randrange(200, len(seq) - length - 200)
        if "N" not in seq[s : s + length]:
            return s


def plate(refs: list[ReferenceRegion], workdir: Path, plots: bool) -> None:
    seq = refs[0].sequence
    rng = random.Random(1)
    jobs = []
    for k in range(48):
        s = usable_start(seq, rng, 650)
        kind = rng.choice(["het_snv", "hom_snv", "het_del1", "het_ins2", "none"])
        variants = (
            [] if kind == "none" else [random_variant(seq, s + rng.randrange(150, 450), kind, rng)]
        )
        paths = []
        for strand in "+-":
            sim = simulate_trace(
                seq, variants, start=s, length=650, strand=strand, seed=k * 2 + (strand == "-"),
                blobs=[(rng.randrange(60, 120), rng.choice("ACGT"), 0.5)] if k % 3 == 0 else (),
                name=f"S{k:02d}_{'F' if strand == '+' else 'R'}.ab1",
            )  # fmt: skip
            paths.append(str(write_abif(sim, workdir / sim.name)))
        plot_dir = str(workdir / "plots") if plots else None
        jobs.append((paths, f"S{k:02d}", plot_dir))
    _init(refs)
    t0 = time.perf_counter()
    for job in jobs[:4]:
        _call(job)
    single = (time.perf_counter() - t0) / 8  # 4 samples x 2 traces
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2, initializer=_init, initargs=(refs,)) as ex:
        list(ex.map(_call, jobs))
    wall = time.perf_counter() - t0
    n = 2 * len(jobs)
    print(f"(a) plate: {n} traces, 2 workers, plots={'on' if plots else 'off'}")
    print(
        f"    wall {wall:.2f} s (incl. worker start-up and index build) -> {n / wall:.1f} traces/s,"
    )
    print(f"    {n / wall / 2:.1f} traces/s per core; single process steady state "
          f"{single * 1000:.0f} ms/trace = {1 / single:.1f} traces/s per core")  # fmt: skip


def accuracy(refs: list[ReferenceRegion], workdir: Path, n_traces: int) -> None:
    """n_traces/2 samples, each a forward and a reverse read over one known variant."""
    seq = refs[0].sequence
    rng = random.Random(2)
    kinds = ["het_snv", "hom_snv", "het_del1", "het_del2", "het_ins1", "het_ins2"]
    n_samples = n_traces // 2
    jobs = []
    truth: dict[str, tuple[str, tuple[int, str, str], str]] = {}
    for k in range(n_samples):
        kind = kinds[k % len(kinds)]
        s = usable_start(seq, rng, 650)
        v = random_variant(seq, s + rng.randrange(150, 450), kind, rng)
        paths = []
        for strand in "+-":
            blobs = (
                [(rng.randrange(50, 150), rng.choice("ACGT"), rng.uniform(0.3, 0.8))]
                if rng.random() < 0.33
                else []
            )
            sim = simulate_trace(
                seq, [v], start=s, length=650, strand=strand, seed=1000 + 2 * k + (strand == "-"),
                noise=rng.uniform(0.005, 0.02), spurious=rng.uniform(0.015, 0.04), blobs=blobs,
                name=f"acc{k:03d}{'F' if strand == '+' else 'R'}.ab1",
            )  # fmt: skip
            paths.append(str(write_abif(sim, workdir / sim.name)))
        sample = f"acc{k:03d}"
        truth[sample] = (kind, truth_key(v, seq), "1/1" if v.zygosity == "hom" else "0/1")
        jobs += [([paths[0]], sample + "|F", None), ([paths[1]], sample + "|R", None)]
        jobs.append((paths, sample + "|FR", None))
    with ProcessPoolExecutor(max_workers=2, initializer=_init, initargs=(refs,)) as ex:
        results = list(ex.map(_call, jobs))
    single = {k: [0, 0] for k in kinds}  # found, total (per trace)
    paired = {k: [0, 0] for k in kinds}  # found as PASS, total (per sample, F+R)
    fp_single = fp_pass = fp_flagged = 0
    examples: list[str] = []
    for label, obs in results:
        sample, mode = label.split("|")
        kind, key, gt = truth[sample]
        hit = False
        for chrom, pos, ref, alt, genotype, filtered in obs:
            ok = chrom == "chr17" and (pos, ref, alt) == key and genotype == gt
            if mode == "FR":
                hit |= ok and not filtered
                if not ok:
                    fp_flagged += bool(filtered)
                    fp_pass += not filtered
                    if not filtered and len(examples) < 6:
                        examples.append(
                            f"{sample} {pos}:{ref}>{alt} {genotype} (truth {kind} {key})"
                        )
            else:
                hit |= ok
                fp_single += not ok
        table = paired if mode == "FR" else single
        table[kind][0] += hit
        table[kind][1] += 1
    print(f"(b) accuracy: {n_samples} samples x (forward + reverse) = {2 * n_samples} traces, one "
          "variant each; a hit needs the exact normalised allele and genotype")  # fmt: skip
    print("    kind       per trace          per sample F+R (PASS)")
    for kind in kinds:
        f1, t1 = single[kind]
        f2, t2 = paired[kind]
        print(f"    {kind:9s} {f1:3d}/{t1:3d} {100 * f1 / max(t1, 1):5.1f} %    "
              f"{f2:3d}/{t2:3d} {100 * f2 / max(t2, 1):5.1f} %")  # fmt: skip
    s1 = sum(v[0] for v in single.values())
    s2 = sum(v[0] for v in paired.values())
    print(f"    sensitivity per trace {s1}/{2 * n_samples} = {100 * s1 / (2 * n_samples):.1f} %; "
          f"per sample {s2}/{n_samples} = {100 * s2 / n_samples:.1f} %")  # fmt: skip
    print(f"    false positives: single reads {fp_single} ({fp_single / (2 * n_samples):.2f}/trace); "
          f"F+R PASS {fp_pass} ({fp_pass / n_samples:.2f}/sample), "
          f"F+R filtered trace_disagreement {fp_flagged}")  # fmt: skip
    for e in examples:
        print("      PASS false positive:", e)


def plot_speed(refs: list[ReferenceRegion], workdir: Path, n: int = 20) -> None:
    """Time per trace snapshot (PNG), after the first call has paid the matplotlib import."""
    from varannot.traceplot import plot_trace_site

    seq = refs[0].sequence
    t = simulate_trace(seq, [], start=14000, length=500, seed=81).to_trace()
    plot_trace_site(t, 100, workdir / "warm.png")
    t0 = time.perf_counter()
    for k in range(n):
        pos = 120 + 15 * k
        plot_trace_site(t, pos, workdir / f"p{k}.png", ref_bases={pos: "A"})
    per = (time.perf_counter() - t0) / n
    print(f"(c) plots: {n} trace snapshots, {per * 1000:.0f} ms each (target < 300 ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accuracy-traces", type=int, default=200)
    ap.add_argument("--plots", action="store_true", help="also draw a PNG per called variant")
    args = ap.parse_args()
    refs = references()
    print(f"reference: {'TP53 GRCh38 (shared)' if TP53_FA.is_file() else 'random'} "
          f"{len(refs[0].sequence)} bp + 200 kb random decoy; cpu count {os.cpu_count()}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        plate(refs, Path(tmp), args.plots)
        accuracy(refs, Path(tmp), args.accuracy_traces)
        plot_speed(refs, Path(tmp))


if __name__ == "__main__":
    main()
