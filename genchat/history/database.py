"""Opening the history database: one SQLite file, `genchat.db` in the data dir
(`GENCHAT_DATA_DIR` overrides it), in WAL mode so that a second genchat can read while one
writes, with a busy timeout for the writes.

A database from a newer genchat is refused and left untouched; one that is damaged is moved
aside, under a lock and only if it is still the file that was checked, to a name no file has,
and a fresh one is started (`damage_note` says where it went).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from genchat.history.records import NewerSchema, StoreError
from genchat.history.schema import MIGRATIONS, SCHEMA_VERSION
from genchat.paths import data_dir

DB_NAME = "genchat.db"
BUSY_TIMEOUT_MS = 5000
OPEN_ATTEMPTS = 3
"""How often opening checks the file again after finding it damaged (and moving it aside, or
finding that another genchat did)."""


def damage_note(store: Database) -> str | None:
    """What to tell the user when opening `store` found the database damaged: where the
    damaged file went (it is kept, for recovery) and that a fresh one was started."""
    if store.moved_aside is None:
        return None
    return (
        f"the history database was damaged; it was moved to {store.moved_aside} and a new one "
        "started. Nothing in the old file was deleted: `sqlite3 FILE .recover` may bring back "
        "what it holds."
    )


def default_path() -> Path:
    return data_dir() / DB_NAME


class Database:
    """One SQLite file, opened and migrated, or moved aside when damaged. Thread-safe: one
    connection, used under a lock. `Store` is the history on it; the arena's votes are kept in
    the same file (`genchat.arena.vote_store`)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self.moved_aside: Path | None = None
        """Where a damaged database was moved, when opening found one."""
        self._lock = threading.Lock()
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unusable(self.path, exc) from exc
        for attempt in range(OPEN_ATTEMPTS):
            checked = _identity(self.path)
            try:
                return self._connect()
            except sqlite3.DatabaseError as exc:
                if not _is_damage(exc) or attempt == OPEN_ATTEMPTS - 1:
                    raise _unusable(self.path, exc) from exc
                # Move only the file that was checked: another genchat that found the same
                # damage may have moved it already, and started the fresh file now there.
                if _identity(self.path) == checked:
                    self.moved_aside = _move_aside(self.path, checked) or self.moved_aside
            except OSError as exc:
                raise _unusable(self.path, exc) from exc
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        try:
            # Raises on a file that is not SQLite; lists problems in one that is damaged.
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed ({check})")
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise NewerSchema(
                    f"{self.path} was written by a newer genchat (history schema {version}; "
                    f"this one reads up to {SCHEMA_VERSION}). It was left untouched. Upgrade "
                    "genchat, or set GENCHAT_DATA_DIR to keep this version's history elsewhere."
                )
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA journal_mode = WAL")  # where a filesystem refuses, the default
            db.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints, and quick
            self._migrate(db, version)
        except BaseException:
            db.close()
            raise
        return db

    def _migrate(self, db: sqlite3.Connection, version: int) -> None:
        for target in range(version + 1, SCHEMA_VERSION + 1):
            try:
                db.executescript(
                    f"BEGIN IMMEDIATE; {MIGRATIONS[target - 1]};"
                    f" PRAGMA user_version = {target}; COMMIT;"
                )
            except sqlite3.OperationalError:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                # Another genchat may have migrated it a moment ago.
                if int(db.execute("PRAGMA user_version").fetchone()[0]) < target:
                    raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """The connection, inside one transaction, for as long as the block runs: committed at
        its end, rolled back if it raises. A database error is raised as a `StoreError`."""
        with self._lock:
            try:
                with _transaction(self._db):
                    yield self._db
            except sqlite3.Error as exc:
                raise _unusable(self.path, exc) from exc

    def rows(self, sql: str, args: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        """Every row a query returns."""
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def row(self, sql: str, args: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        """The first row a query returns, or `None`."""
        with self._lock:
            return self._db.execute(sql, args).fetchone()


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        # SQLite rolls back by itself on some errors (a full disk, out of memory); a second
        # rollback would fail and hide the error that says what happened.
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def _identity(path: Path) -> tuple[int, int] | None:
    """Which file is at `path` (device and inode), or `None` where there is none."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


@contextlib.contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on `directory` (flock, released when the process dies), so that
    two genchats never move files in it at once. Where the platform or the filesystem has no
    such lock, go on without one: the identity check still keeps the fresh file in place."""
    try:
        import fcntl

        fd = os.open(directory, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _move_aside(path: Path, checked: tuple[int, int] | None) -> Path | None:
    """Rename the damaged database at `path`, and its WAL, to a name no file has; returns it.

    Nothing is moved (`None`) unless the file at `path` is still the one that was `checked`:
    a second genchat that found the same damage must not move the fresh database the first
    one started over the first one's backup.
    """
    with _directory_lock(path.parent):
        if checked is None or _identity(path) != checked:
            return None
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        target = path.with_name(f"{path.name}.damaged-{stamp}")
        number = 1
        while any(target.with_name(target.name + s).exists() for s in ("", "-wal", "-shm")):
            number += 1
            target = path.with_name(f"{path.name}.damaged-{stamp}-{number}")
        # The WAL first: once the database is gone, a genchat may start a fresh one (and its
        # WAL) at once, which must stay where it is.
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.rename(
                    path.with_name(path.name + suffix), target.with_name(target.name + suffix)
                )
        os.rename(path, target)
    return target


def _unusable(path: Path, exc: BaseException) -> StoreError:
    if isinstance(exc, StoreError):
        return exc
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    hint = ""
    lowered = reason.lower()
    if "readonly" in lowered or "read-only" in lowered or "permission" in lowered:
        hint = " The data directory is not writable; set GENCHAT_DATA_DIR to one that is."
    elif "full" in lowered:
        hint = " The disk is full; free some space."
    elif "locked" in lowered or "busy" in lowered:
        hint = " Another genchat is writing to it; try again in a moment."
    return StoreError(f"Cannot use the history database {path}: {reason}.{hint}")
