"""The durable journal: every QC document, in sequence order, in SQLite (write-ahead log).

Each document is committed before it is published, so a daemon killed at any point leaves every
document it published (and possibly one more) on disk, in order. ``fsync`` "normal" survives a
killed process; "always" also survives power loss, at the cost of an fsync per document.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    seq INTEGER PRIMARY KEY,
    run_uid TEXT,
    kind TEXT NOT NULL,
    time REAL NOT NULL,
    header TEXT NOT NULL,
    body TEXT NOT NULL,
    thumbnail BLOB
);
CREATE INDEX IF NOT EXISTS documents_run ON documents (run_uid, seq);
"""
_SYNC = {"always": "FULL", "normal": "NORMAL", "off": "OFF"}


@dataclass(frozen=True)
class Entry:
    """One journaled document."""

    seq: int
    run_uid: str | None
    kind: str
    header: dict[str, Any]
    body: dict[str, Any]
    thumbnail: bytes | None


class Journal:
    """Append-only document store; one writer (the daemon), any number of readers."""

    def __init__(self, path: Path, fsync: Literal["always", "normal", "off"] = "normal") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={_SYNC[fsync]}")
        self._db.executescript(_SCHEMA)

    def last_seq(self) -> int:
        """The highest sequence number written, -1 for an empty journal."""
        row = self._db.execute("SELECT MAX(seq) FROM documents").fetchone()
        return -1 if row[0] is None else int(row[0])

    def append(
        self, header: dict[str, Any], body: dict[str, Any], thumbnail: bytes | None = None
    ) -> None:
        """Commit one document (its header carries seq, kind, run and time)."""
        self._db.execute(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                header["seq"],
                header.get("run_uid"),
                header["kind"],
                header["time"],
                json.dumps(header),
                json.dumps(body),
                thumbnail,
            ),
        )

    def read(
        self, *, after_seq: int = -1, run_uid: str | None = None, limit: int | None = None
    ) -> Iterator[Entry]:
        """Documents after ``after_seq``, optionally of one run, in sequence order."""
        query = "SELECT seq, run_uid, kind, header, body, thumbnail FROM documents WHERE seq > ?"
        args: list[Any] = [after_seq]
        if run_uid is not None:
            query += " AND run_uid = ?"
            args.append(run_uid)
        query += " ORDER BY seq"
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        for seq, run, kind, header, body, thumb in self._db.execute(query, args):
            yield Entry(seq, run, kind, json.loads(header), json.loads(body), thumb)

    def runs(self) -> list[tuple[str, int, float]]:
        """Every run: uid, number of documents, start time; oldest first."""
        rows = self._db.execute(
            "SELECT run_uid, COUNT(*), MIN(time) FROM documents WHERE run_uid IS NOT NULL "
            "GROUP BY run_uid ORDER BY MIN(seq)"
        )
        return [(str(r[0]), int(r[1]), float(r[2])) for r in rows]

    def find_run(self, prefix: str) -> str:
        """The one run whose uid starts with ``prefix`` (as ``git`` resolves short hashes)."""
        matches = [uid for uid, _, _ in self.runs() if uid.startswith(prefix)]
        if len(matches) != 1:
            found = "no run" if not matches else f"{len(matches)} runs"
            raise KeyError(
                f"{found} in {self.path} starts with {prefix!r}: see 'focusqc events list'"
            )
        return matches[0]

    def close(self) -> None:
        """Close the database."""
        self._db.close()
