"""Scan text and files for BSNs in clear: any 9-digit number that passes the 11-proef.

Used by the tests after a data-quality run and, by the lead, after the full demo: reports
(HTML, JSON), logs and exported ``dq_result`` rows must not contain one. Eight-digit numbers
are not reported (they would also match every date like 20261123 written without dashes);
a 9-digit run inside a longer digit string is not a BSN either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from payroll_etl.quality.identifiers import elfproef

_NINE = re.compile(r"(?<![0-9])[0-9]{9}(?![0-9])")
TEXT_SUFFIXES = (".html", ".htm", ".json", ".log", ".txt", ".csv", ".md", ".yaml", ".yml", ".xml", ".sql")


@dataclass(frozen=True)
class Finding:
    """A BSN-like number found in a report or log: where, and the number masked.
"""
    path: str
    line: int
    masked: str  # the number with its middle masked: the finding itself must not leak it

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: 11-proef-valid number {self.masked}"


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def find_bsn_like(text: str) -> list[str]:
    """All 9-digit numbers in ``text`` that pass the 11-proef (the values themselves).

    UUIDs are blanked first: a hex group such as ``a123456789bc`` of an Airflow task-instance id is no
    BSN, and one in eleven such digit runs passes the 11-proef (the privacy scan's false positive)."""
    text = _UUID.sub(lambda m: "-" * len(m.group(0)), text)
    return [m.group(0) for m in _NINE.finditer(text) if elfproef(m.group(0))]


def _mask(number: str) -> str:
    return number[:2] + "*****" + number[-2:]


def scan_text(text: str, where: str = "<text>") -> list[Finding]:
    """Findings of 11-proef-valid 9-digit numbers in ``text`` (line numbers from 1; ``where`` names it)."""
    findings: list[Finding] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        findings.extend(Finding(where, lineno, _mask(n)) for n in find_bsn_like(line))
    return findings


def _files(paths: Iterable[Path | str], suffixes: tuple[str, ...]) -> Iterable[Path]:
    for p in paths:
        path = Path(p)
        if path.is_dir():
            yield from (f for f in sorted(path.rglob("*")) if f.is_file() and f.suffix.lower() in suffixes)
        elif path.is_file():
            yield path


def scan_paths(paths: Iterable[Path | str], suffixes: tuple[str, ...] = TEXT_SUFFIXES) -> list[Finding]:
    """Scan files, and text files under directories, for BSN-like numbers."""
    findings: list[Finding] = []
    for file in _files(paths, suffixes):
        text = file.read_bytes().decode("utf-8", errors="replace")
        findings.extend(scan_text(text, str(file)))
    return findings


def scan_rows(rows: Iterable[Iterable[object]], where: str = "rows") -> list[Finding]:
    """Scan database rows (e.g. ``SELECT * FROM dq_result``): one 'line' per row."""
    findings: list[Finding] = []
    for i, row in enumerate(rows, 1):
        text = " ".join("" if v is None else str(v) for v in row)
        findings.extend(Finding(where, i, _mask(n)) for n in find_bsn_like(text))
    return findings
