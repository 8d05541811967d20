"""One exception family: every error names the file, the record and the problem.

The CLI turns these into exit code 2 and a one-line message; the HTTP service turns them into
``application/problem+json`` 4xx documents. A traceback reaching a user is a bug.
"""

from __future__ import annotations


class VarannotError(Exception):
    """Base class. ``source`` is a file (or 'request'), ``record`` a line/record/position."""

    status = 400
    title = "varannot error"

    def __init__(self, message: str, *, source: str | None = None, record: str | None = None):
        self.message = message
        self.source = source
        self.record = record
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ", ".join(p for p in (self.source, self.record) if p)
        return f"{where}: {self.message}" if where else self.message


class InputError(VarannotError):
    """A user's input file (VCF, trace, samplesheet) cannot be read as given."""

    title = "Unreadable input"


class ReferenceError_(VarannotError):
    """The FASTA or build is missing, wrong, or inconsistent with the transcript models."""

    title = "Reference problem"


class BuildMismatchError(ReferenceError_):
    title = "Build mismatch"


class KnowledgeBaseError(VarannotError):
    """A knowledge-base table fails validation (names the row)."""

    title = "Knowledge base invalid"


class HGVSParseError(VarannotError):
    title = "Unparseable HGVS"


class TranscriptModelError(VarannotError):
    title = "Transcript model invalid"
    status = 500
