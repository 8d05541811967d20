"""Start-up cost of the CLI, side by side with ``python -c pass`` (issue 19).

Each case runs ``--runs`` times in a fresh interpreter; the figure is the median CPU time
(user + sys of the child, from ``resource.getrusage(RUSAGE_CHILDREN)``), not wall time, because
on a shared, loaded machine wall time mostly measures the other processes. Byte-code is cached
under a temporary ``PYTHONPYCACHEPREFIX`` (warmed by one untimed run) so a checkout run under
``PYTHONDONTWRITEBYTECODE=1`` is measured like an installed wheel, not re-compiling every module.

Cases: ``python -c pass``; ``import varannot.cli``; ``varannot --help``; ``varannot annotate``
of a header-only VCF with a SYNTHETIC MEN1 + real TP53/BCL2/BAX region FASTA built from
``../shared`` (skipped when ``../shared`` is absent). Prints figures; asserts nothing.

Usage: ``python benchmarks/startup.py [--runs 7]``; ``python -X importtime -m varannot.cli
--help`` shows which imports remain.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("VARANNOT_SHARED", ROOT.parent / "shared"))
EMPTY_VCF = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def cpu_of(cmd: list[str], env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def region_fasta(tmp: Path) -> Path | None:
    if not SHARED.is_dir():
        return None
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    from shared_mirror import grch38_segments
    from synthetic import synthetic_men1, write_fasta

    recs = [r for r in grch38_segments(SHARED) if r[0] != "chr11"]
    recs.append(synthetic_men1(SHARED, "GRCh38"))
    return write_fasta(tmp / "ref.fa", recs, "real-except-MEN1-SYNTHETIC")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pyc")
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
        py = sys.executable
        cases: list[tuple[str, list[str]]] = [
            ("python -c pass", [py, "-c", "pass"]),
            ("import varannot.cli", [py, "-c", "import varannot.cli"]),
            ("varannot --help", [py, "-m", "varannot.cli", "--help"]),
        ]
        fasta = region_fasta(tmp)
        if fasta is not None:
            vcf = tmp / "empty.vcf"
            vcf.write_text(EMPTY_VCF)
            cases.append(
                (
                    "varannot annotate <empty VCF>",
                    [py, "-m", "varannot.cli", "annotate", str(vcf), "-f", str(fasta)]
                    + ["--format", "tsv", "-q"],
                )
            )
        else:
            print(f"(no {SHARED}: the annotate case is skipped)")
        print(f"median CPU seconds (user+sys) of {args.runs} runs; byte-code cached")
        base = None
        for name, cmd in cases:
            cpu_of(cmd, env)  # warm the byte-code cache and the page cache
            med = statistics.median(cpu_of(cmd, env) for _ in range(args.runs))
            base = med if base is None else base
            extra = f"  (+{med - base:.3f} s over python -c pass)" if med is not base else ""
            print(f"  {name:32s} {med:6.3f} s{extra}")


if __name__ == "__main__":
    main()
