"""Facts about the two assemblies: contig names, aliases and lengths (for build detection).

Lengths and RefSeq accessions are the public GRCh37/GRCh38 primary-assembly values.
"""

from __future__ import annotations

from .models import Build

# chromosome -> (GRCh38 length, GRCh37 length)
CHROM_LENGTHS: dict[str, tuple[int, int]] = {
    "1": (248956422, 249250621),
    "2": (242193529, 243199373),
    "3": (198295559, 198022430),
    "4": (190214555, 191154276),
    "5": (181538259, 180915260),
    "6": (170805979, 171115067),
    "7": (159345973, 159138663),
    "8": (145138636, 146364022),
    "9": (138394717, 141213431),
    "10": (133797422, 135534747),
    "11": (135086622, 135006516),
    "12": (133275309, 133851895),
    "13": (114364328, 115169878),
    "14": (107043718, 107349540),
    "15": (101991189, 102531392),
    "16": (90338345, 90354753),
    "17": (83257441, 81195210),
    "18": (80373285, 78077248),
    "19": (58617616, 59128983),
    "20": (64444167, 63025520),
    "21": (46709983, 48129895),
    "22": (50818468, 51304566),
    "X": (156040895, 155270560),
    "Y": (57227415, 59373566),
    "MT": (16569, 16569),
}

# RefSeq chromosome accessions: number -> (GRCh38 version, GRCh37 version)
_NC_VERSIONS: dict[str, tuple[int, int]] = {
    "1": (11, 10),
    "2": (12, 11),
    "3": (12, 11),
    "4": (12, 11),
    "5": (10, 9),
    "6": (12, 11),
    "7": (14, 13),
    "8": (11, 10),
    "9": (12, 11),
    "10": (11, 10),
    "11": (10, 9),
    "12": (12, 11),
    "13": (11, 10),
    "14": (9, 8),
    "15": (10, 9),
    "16": (10, 9),
    "17": (11, 10),
    "18": (10, 9),
    "19": (10, 9),
    "20": (11, 10),
    "21": (9, 8),
    "22": (11, 10),
    "X": (11, 10),
    "Y": (10, 9),
}


def refseq_accession(chrom: str, build: Build) -> str:
    """``NC_000017.11`` for ``chr17`` on GRCh38."""
    c = bare_chrom(chrom)
    v38, v37 = _NC_VERSIONS[c]
    num = {"X": 23, "Y": 24}.get(c) or int(c)
    return f"NC_{num:06d}.{v38 if build == 'GRCh38' else v37}"


_ACCESSION_TO_CHROM: dict[str, tuple[str, Build]] = {}
for _c, (_v38, _v37) in _NC_VERSIONS.items():
    _num = {"X": 23, "Y": 24}.get(_c) or int(_c)
    _ACCESSION_TO_CHROM[f"NC_{_num:06d}.{_v38}"] = (_c, "GRCh38")
    _ACCESSION_TO_CHROM[f"NC_{_num:06d}.{_v37}"] = (_c, "GRCh37")


def bare_chrom(name: str) -> str:
    """'chr17', '17', 'NC_000017.11' -> '17'; 'chrM'/'M' -> 'MT'. Unknown names pass through."""
    if name in _ACCESSION_TO_CHROM:
        return _ACCESSION_TO_CHROM[name][0]
    n = name[3:] if name.lower().startswith("chr") else name
    if n in ("M", "m"):
        return "MT"
    return n


def canonical_chrom(name: str) -> str:
    """The project's internal contig name: 'chr17' (UCSC style) for any accepted alias."""
    b = bare_chrom(name)
    if b in CHROM_LENGTHS:
        return "chrM" if b == "MT" else f"chr{b}"
    return name


def accession_build(name: str) -> Build | None:
    """The build an ``NC_`` accession implies, if any."""
    hit = _ACCESSION_TO_CHROM.get(name)
    return hit[1] if hit else None


def chrom_aliases(chrom: str, build: Build) -> tuple[str, ...]:
    """Every name a file may use for this chromosome in this build."""
    b = bare_chrom(chrom)
    names = [f"chr{b}" if b != "MT" else "chrM", b]
    if b == "MT":
        names.append("M")
    if b in _NC_VERSIONS:
        names.append(refseq_accession(b, build))
    return tuple(names)


def detect_build(contig_lengths: dict[str, int]) -> Build | None:
    """Build implied by contig lengths (any alias); None when silent or ambiguous."""
    votes: dict[Build, int] = {"GRCh38": 0, "GRCh37": 0}
    for name, length in contig_lengths.items():
        acc_build = accession_build(name)
        if acc_build:
            votes[acc_build] += 1
            continue
        b = bare_chrom(name)
        if b not in CHROM_LENGTHS or b == "MT":
            continue
        l38, l37 = CHROM_LENGTHS[b]
        if length == l38:
            votes["GRCh38"] += 1
        elif length == l37:
            votes["GRCh37"] += 1
    if votes["GRCh38"] and not votes["GRCh37"]:
        return "GRCh38"
    if votes["GRCh37"] and not votes["GRCh38"]:
        return "GRCh37"
    return None
