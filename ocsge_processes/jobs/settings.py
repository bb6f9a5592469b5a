"""The ``server.manager`` section of the pygeoapi configuration, read once for the web side and the workers.

Values substituted from the environment (``${OCSGE_MAX_JOBS:-2}``) arrive as strings: they are converted here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EXECUTORS = ("inprocess", "celery")


@dataclass(frozen=True)
class JobSettings:
    connection: str
    executor: str = "inprocess"
    broker: str = "redis://127.0.0.1:6379/0"
    max_jobs: int = 2
    concurrency: int | None = None
    stale_after_s: float = 60.0
    allow_internal_callbacks: bool = False
    #: Seconds a synchronous execution's request waits for its job before answering 201 with the job's status.
    sync_budget_s: float = 60.0

    @classmethod
    # Any: the ``server.manager`` section is free-form pygeoapi configuration.
    def from_manager(cls, manager_def: dict[str, Any]) -> JobSettings:
        """Settings from a manager definition; raise ValueError for an unknown executor or a missing store."""
        if not manager_def.get("connection"):
            raise ValueError("server.manager.connection must name the job store (a SQLite path or postgresql:// URL)")
        executor = str(manager_def.get("executor") or "inprocess")
        if executor not in EXECUTORS:
            raise ValueError(f"server.manager.executor {executor!r} is not one of {', '.join(EXECUTORS)}")
        concurrency = manager_def.get("concurrency")
        sync_budget_s = float(manager_def.get("sync_budget_s") or cls.sync_budget_s)
        if sync_budget_s <= 0:
            raise ValueError(f"server.manager.sync_budget_s must be a positive number of seconds, not {sync_budget_s}")
        return cls(
            connection=str(manager_def["connection"]),
            executor=executor,
            broker=str(manager_def.get("broker") or cls.broker),
            max_jobs=int(manager_def.get("max_jobs") or 2),
            concurrency=int(concurrency) if concurrency else None,
            stale_after_s=float(manager_def.get("stale_after_s") or 60),
            allow_internal_callbacks=str(manager_def.get("allow_internal_callbacks", False)).lower()
            in ("true", "1", "yes"),
            sync_budget_s=sync_budget_s,
        )

    @property
    def heartbeat_s(self) -> float:
        """Four beats per stale period, so that one late beat never fails a live job."""
        return max(0.5, self.stale_after_s / 4)
