"""The orchestrator's own tables: workflow journal, idempotency claims, refunds and events.

DBOS keeps its checkpoints in its system database; these tables hold what the graph reads
(the journal a `Workflow` is built from, refunds with who approved them, the event log).
SQLite under the data directory by default, PostgreSQL when a database URL is configured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")

metadata = sa.MetaData()

workflows = sa.Table(
    "rg_workflows",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(60), nullable=False),
    sa.Column("operation", sa.String(60), nullable=False),
    sa.Column("idempotency_key", sa.String(300)),
    sa.Column("input_hash", sa.String(64), nullable=False),
    sa.Column("input_json", sa.Text, nullable=False),
    sa.Column("status", sa.String(30), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("error_code", sa.String(60)),
    sa.Column("subjects_json", sa.Text, nullable=False, server_default="{}"),
    sa.Column("principal", sa.String(200)),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

steps = sa.Table(
    "rg_workflow_steps",
    metadata,
    sa.Column("workflow_id", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("status", sa.String(30), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("error", sa.Text),
)

links = sa.Table(
    "rg_workflow_links",
    metadata,
    sa.Column("entity", sa.String(30), primary_key=True),
    sa.Column("entity_key", sa.String(200), primary_key=True),
    sa.Column("workflow_id", sa.String(200), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

refunds = sa.Table(
    "rg_refunds",
    metadata,
    sa.Column("id", sa.String(60), primary_key=True),
    sa.Column("workflow_id", sa.String(200), nullable=False, index=True),
    sa.Column("order_number", sa.String(60), nullable=False, index=True),
    sa.Column("invoice_number", sa.String(60)),
    sa.Column("return_number", sa.String(60), index=True),
    sa.Column("case_id", sa.Integer),
    sa.Column("amount", sa.String(40), nullable=False),
    sa.Column("currency_code", sa.String(3), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("status", sa.String(30), nullable=False),
    sa.Column("credit_memo_number", sa.String(60)),
    sa.Column("requested_by", sa.String(200)),
    sa.Column("approved_by", sa.String(200)),
    sa.Column("decision_note", sa.Text),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("posted_at", sa.DateTime(timezone=True)),
)

events = sa.Table(
    "rg_events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(300), nullable=False, unique=True),
    sa.Column("type", sa.String(60), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("workflow_id", sa.String(200), index=True),
    sa.Column("subject", sa.String(200)),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("data_json", sa.Text, nullable=False),
)


def sqlalchemy_url(database_url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the libpq form."""
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix):]
    return database_url


class Database:
    """One SQLAlchemy engine over the orchestrator tables, with an async `run` helper."""

    def __init__(self, url: str) -> None:
        self.url = sqlalchemy_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            self.engine: Engine = sa.create_engine(
                self.url, connect_args={"timeout": 30, "check_same_thread": False}
            )
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = sa.create_engine(self.url, pool_size=10, max_overflow=10, pool_pre_ping=True)

    @classmethod
    def for_settings(cls, database_url: str | None, data_dir: Path) -> Database:
        """PostgreSQL when a URL is configured, else a SQLite file in the data directory."""
        if database_url:
            return cls(database_url)
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{(data_dir / 'orchestrator.sqlite').resolve()}")

    def create_all(self) -> None:
        """Create missing tables (idempotent; safe for several replicas starting at once)."""
        try:
            metadata.create_all(self.engine)
        except sa.exc.IntegrityError:
            # Another replica created the same table between our check and our CREATE.
            metadata.create_all(self.engine)

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one transaction; SQLite inline (local, sub-millisecond), else a thread."""
        if self.is_sqlite:
            return self.transact(work)
        return await asyncio.to_thread(self.transact, work)

    def transact(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one transaction on this thread."""
        with self.engine.begin() as connection:
            return work(connection)

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


def dbos_sqlite_engine(path: Path) -> Engine:
    """DBOS's SQLite system database with WAL and NORMAL sync instead of its rollback journal.

    DBOS opens SQLite with the default journal (an fsync on every checkpoint, writers
    serialised behind it: about 20 workflows a second). In WAL with NORMAL sync a process
    crash loses nothing; a power cut may lose the last checkpoints, and re-running those
    steps is safe because every upstream write carries its idempotency key.
    """
    engine = sa.create_engine(
        f"sqlite:///{path}", pool_size=20, max_overflow=20, pool_timeout=30,
        connect_args={"timeout": 30, "check_same_thread": False},
    )

    @sa.event.listens_for(engine, "connect")
    def configure(dbapi_connection: Any, _record: Any) -> None:
        # As DBOS's own engine: IMMEDIATE transactions serialise writers, foreign keys on.
        dbapi_connection.isolation_level = "IMMEDIATE"
        _sqlite_pragmas(dbapi_connection, _record)
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers (the graph) run while a workflow writes; NORMAL sync is durable in WAL."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
