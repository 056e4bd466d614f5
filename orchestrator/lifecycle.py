"""The orchestrator's life in the app: configure and launch DBOS, start and follow workflows.

DBOS is a process-wide singleton. `start_orchestrator` installs the runtime workflows use,
then creates and launches DBOS from the running event loop (so async workflows, recovered
ones included, run on the app's loop and share its HTTP clients); pending workflows are
recovered by that launch. `Orchestrator.close` parks running workflows (they stay PENDING
and resume at the next launch) and destroys DBOS.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from dbos import DBOS, DBOSConfig, SetWorkflowID
from sqlalchemy.engine import Engine

from sources.policy import ReturnPolicy

from . import (  # noqa: F401
    case_note_add,
    refund_request,
    replacement_reserve,
    return_cancel,
    return_initiate,
)
from . import runtime as runtime_module
from .db import Database, dbos_sqlite_engine
from .events import DomainEvent, EventBus, EventLog
from .idempotency import IdempotencyKeyReused, input_hash, workflow_id_for
from .journal import FINAL_STATES, SETTLED_STATES, WorkflowJournal, WorkflowRecord
from .refunds import RefundRecord, RefundStore
from .runtime import RetryPolicy, Runtime
from .upstreams import Upstreams
from .workflow import REGISTRY

logger = logging.getLogger("retailgraph.orchestrator")
T = TypeVar("T")

# Recovery only resumes workflows of the same application version; bump when step lists change.
WORKFLOW_VERSION = "retailgraph-workflows-1"
APP_NAME = "retailgraph"
DBOS_SQLITE_FILE = "dbos.sqlite"


@dataclass(frozen=True)
class OrchestratorOptions:
    """Knobs tests and benchmarks turn; production uses the defaults."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    approval_timeout_s: float = 7 * 24 * 3600.0
    poll_interval_s: float = 0.05
    log_level: str = "WARNING"


def options_from_settings(settings: Any) -> OrchestratorOptions:
    """Retry knobs from settings (`workflow_step_attempts`, `workflow_retry_interval_s`)."""
    default = RetryPolicy()
    attempts = int(getattr(settings, "workflow_step_attempts", default.max_attempts))
    return OrchestratorOptions(
        retry=RetryPolicy(
            max_attempts=max(1, attempts),
            compensation_attempts=max(default.compensation_attempts, attempts),
            interval_s=float(getattr(settings, "workflow_retry_interval_s", default.interval_s)),
        )
    )


def executor_id_for(settings: Any) -> str | None:
    """This process's DBOS executor id: the setting, else `<host>-<pid>` on PostgreSQL.

    Launch recovers only the pending workflows of its own executor id. Replicas sharing a
    PostgreSQL database each need their own, or every replica starting would resume the
    others' in-flight workflows; a replica restarted under the same id (same host and pid,
    e.g. PID 1 in a container, or a fixed `RETAILGRAPH_EXECUTOR_ID`) resumes its own. A
    replica that is gone for good is recovered through DBOS (Conductor, or
    `DBOS._recover_pending_workflows([its id])`; docs/scale-out.md). SQLite: DBOS's "local".
    """
    configured = getattr(settings, "executor_id", None)
    if configured:
        return str(configured)
    if getattr(settings, "database_url", None):
        return f"{socket.gethostname()}-{os.getpid()}"
    return None


def dbos_system_url(database_url: str | None, data_dir: Path) -> str:
    """DBOS's system database: the configured PostgreSQL, else SQLite in the data directory."""
    if database_url:
        return database_url
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(data_dir / DBOS_SQLITE_FILE).resolve()}"


class Orchestrator:
    """Starts workflows idempotently and answers what the graph asks about them."""

    def __init__(
        self, runtime: Runtime, db: Database, options: OrchestratorOptions, system_engine: Engine | None = None
    ) -> None:
        self.runtime = runtime
        self.db = db
        self._system_engine = system_engine
        self.options = options
        self.journal = runtime.journal
        self.events = runtime.events
        self.refunds = runtime.refunds
        self.bus = runtime.bus
        self._closed = False

    # -- starting -----------------------------------------------------------------------------

    async def existing(self, operation: str, key: str, client_input: Mapping[str, Any]) -> WorkflowRecord | None:
        """The workflow a key already names (re-driven if needed), or None; raises on reuse."""
        workflow_id = workflow_id_for(operation, key)
        record = await self.journal.get(workflow_id)
        if record is None:
            return None
        if record.input_hash != input_hash(client_input):
            raise IdempotencyKeyReused(operation, key)
        await self._drive(record)
        return record

    async def start(
        self,
        kind: str,
        *,
        key: str,
        client_input: Mapping[str, Any],
        payload: Mapping[str, Any],
        principal: str | None,
        subjects: Mapping[str, Any] | None = None,
    ) -> WorkflowRecord:
        """Claim (operation, key) for this input and start its workflow once."""
        spec = REGISTRY[kind]
        workflow_id = workflow_id_for(spec.operation, key)
        created, record = await self.journal.claim(
            workflow_id=workflow_id, kind=kind, operation=spec.operation, idempotency_key=key,
            input_hash=input_hash(client_input), input=payload, principal=principal,
            plan=spec.plan(payload), subjects=subjects,
        )
        if not created and record.input_hash != input_hash(client_input):
            raise IdempotencyKeyReused(spec.operation, key)
        await self._drive(record)
        return record

    async def _drive(self, record: WorkflowRecord) -> None:
        """Start the DBOS workflow of a claimed record; DBOS runs one execution per id."""
        if record.status in FINAL_STATES:
            return
        spec = REGISTRY[record.kind]
        with SetWorkflowID(record.id):
            await DBOS.start_workflow_async(spec.function, dict(record.input))

    async def decide_refund(self, refund: RefundRecord, decision: str, *, by: str | None, note: str | None) -> None:
        """Deliver a supervisor's decision to the waiting workflow (first decision wins)."""
        message = {"decision": decision, "by": by, "note": note, "at": datetime.now(UTC).isoformat()}
        await DBOS.send_async(
            refund.workflow_id, message, refund_request.APPROVAL_TOPIC,
            idempotency_key=f"{refund.id}:decision",
        )

    # -- following ------------------------------------------------------------------------------

    async def wait(
        self,
        workflow_id: str,
        timeout_s: float,
        until: Callable[[WorkflowRecord], bool] | None = None,
    ) -> WorkflowRecord | None:
        """The workflow once `until` holds (default: settled) or `timeout_s` passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout_s)

        async def done() -> bool:
            if until is None:  # the common case reads one column, not the whole journal
                status = await self.journal.status(workflow_id)
                return status is None or status in SETTLED_STATES
            record = await self.journal.get(workflow_id)
            return record is None or until(record)

        async with self.bus.subscribe([f"workflow:{workflow_id}"]) as changes:
            while not await done():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                # Another replica may run it: poll the journal as well as listening.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changes.get(), timeout=min(remaining, 0.5))
                while not changes.empty():  # a burst of changes needs one look
                    changes.get_nowait()
        return await self.journal.get(workflow_id)

    async def follow(self, workflow_id: str) -> AsyncIterator[WorkflowRecord]:
        """Every change of a workflow, starting with its current state, until it is final."""
        async with self.bus.subscribe([f"workflow:{workflow_id}"]) as changes:
            last = await self.journal.get(workflow_id)
            if last is None:
                return
            yield last
            while last.status not in FINAL_STATES:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changes.get(), timeout=1.0)
                current = await self.journal.get(workflow_id)
                if current is not None and current != last:
                    last = current
                    yield current

    async def workflow(self, workflow_id: str) -> WorkflowRecord | None:
        """One workflow from the journal."""
        return await self.journal.get(workflow_id)

    async def workflow_for(self, subject: str) -> WorkflowRecord | None:
        """The latest workflow acting on a subject such as `Return:RMA-100001`; None if none."""
        entity, _, key = subject.partition(":")
        ids = await self.journal.workflows_for(entity, key)
        return await self.journal.get(ids[-1]) if ids else None

    async def refund_overlay(self, refund: T) -> T:
        """A graph refund (keyed by credit memo number) with the status and people recorded here.

        The ERP's Draft memo cannot say whether a refund waits for approval or who approved it;
        for refunds retailgraph runs, this record can. Others come back unchanged.
        """
        key = getattr(refund, "key", None)
        mine = (await self.refunds.by_credit_memo_numbers([key])).get(key) if key else None
        if mine is None or not dataclasses.is_dataclass(refund):
            return refund
        return dataclasses.replace(  # type: ignore[type-var]
            refund, status=mine.status, requested_by=mine.requested_by, approved_by=mine.approved_by
        )

    async def workflow_events(self, workflow_id: str, limit: int = 100) -> list[DomainEvent]:
        """The domain events a workflow wrote, in order."""
        return await self.events.list(workflow_id=workflow_id, limit=limit)

    # -- shutdown ---------------------------------------------------------------------------------

    async def close(self) -> None:
        """Park running workflows (they resume at the next launch) and destroy DBOS."""
        if self._closed:
            return
        self._closed = True
        instance = _dbos_instance()
        tasks = [t for t in getattr(instance, "_workflow_tasks", ()) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        # DBOS made its own pool the loop's default executor and shuts it down on destroy;
        # give the loop a fresh one so `to_thread` keeps working for the rest of the app.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(thread_name_prefix="asyncio"))
        await asyncio.to_thread(DBOS.destroy)
        runtime_module.install(None)
        self.db.dispose()
        if self._system_engine is not None:
            self._system_engine.dispose()  # ours: DBOS does not dispose engines it was given


def _dbos_instance() -> Any:
    """The DBOS singleton, if one exists (private, but DBOS exposes no other handle)."""
    from dbos import _dbos

    return getattr(_dbos, "_dbos_global_instance", None)


async def start_orchestrator(
    settings: Any, sources: Any, *, options: OrchestratorOptions | None = None
) -> Orchestrator:
    """Open the journal, install the runtime, launch DBOS (recovering pending workflows)."""
    options = options or options_from_settings(settings)
    if _dbos_instance() is not None:
        raise RuntimeError("DBOS is already running in this process; close the other orchestrator first")
    data_dir = Path(getattr(settings, "data_dir", ".retailgraph"))
    database_url = getattr(settings, "database_url", None)
    db = Database.for_settings(database_url, data_dir)
    await asyncio.to_thread(db.create_all)
    bus = EventBus()
    bus.bind(asyncio.get_running_loop())
    runtime = Runtime(
        sources=sources,
        upstreams=Upstreams.over(sources),
        journal=WorkflowJournal(db, bus),
        events=EventLog(db, bus),
        bus=bus,
        refunds=RefundStore(db, bus),
        policy=ReturnPolicy(
            window_days=int(getattr(settings, "return_window_days", 30)),
            approval_threshold=getattr(settings, "refund_approval_threshold", ReturnPolicy().approval_threshold),
        ),
        retry=options.retry,
        approval_timeout_s=options.approval_timeout_s,
    )
    runtime_module.install(runtime)
    system_url = dbos_system_url(database_url, data_dir)
    system_engine = None if database_url else dbos_sqlite_engine(data_dir.resolve() / DBOS_SQLITE_FILE)
    config: DBOSConfig = {
        "name": APP_NAME,
        "system_database_url": system_url,
        "application_version": WORKFLOW_VERSION,
        "log_level": options.log_level,
        "notification_listener_polling_interval_sec": options.poll_interval_s,
    }
    if system_engine is not None:
        config["system_database_engine"] = system_engine
    executor_id = executor_id_for(settings)
    if executor_id is not None:
        config["executor_id"] = executor_id
    try:
        DBOS(config=config)
        # Launch from the loop's thread: DBOS adopts this loop for recovered async workflows.
        DBOS.launch()
    except BaseException:
        DBOS.destroy()
        runtime_module.install(None)
        db.dispose()
        if system_engine is not None:
            system_engine.dispose()
        raise
    logger.info("orchestrator started (%s, executor %s)",
                "postgresql" if database_url else f"sqlite in {data_dir}", DBOS.executor_id)
    return Orchestrator(runtime, db, options, system_engine)
