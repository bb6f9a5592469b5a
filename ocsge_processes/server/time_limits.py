"""The time limits of a web request, in the one order that lets no slow request kill another client's job.

A store query stops first (``OCSGE_STATEMENT_TIMEOUT``: 503 QueryTimeout), then a synchronous execution's wait
(``sync_budget_s``: 201 and the job's status), and only then, for a truly stuck worker, gunicorn's worker timeout
(``OCSGE_WORKER_TIMEOUT``), which kills the worker with every in-process job inside it. gunicorn refuses to start
when they are out of order (``gunicorn_conf.on_starting``); docs/limits.md has the figures.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pygeoapi.util import yaml_load

from ..jobs.settings import JobSettings
from ..stores.timeout import web_timeout_from_env

#: Seconds a worker keeps, after the sync budget, to read the job's result and write the answer.
ANSWER_MARGIN_S = 5.0


@dataclass(frozen=True)
class TimeLimits:
    """Seconds; ``statement_s`` None: no store limit; ``sync_budget_s`` None: no job manager; ``worker_timeout_s``
    0: gunicorn never kills a silent worker."""

    statement_s: float | None
    sync_budget_s: float | None
    worker_timeout_s: float

    def problem(self) -> str | None:
        """Why these limits are out of order (None when they are in order)."""
        worker = self.worker_timeout_s or float("inf")
        if self.statement_s is None:
            return (
                "OCSGE_STATEMENT_TIMEOUT is 0 (no limit): a slow store query could outlive the sync budget and "
                "the worker timeout; give it a number of seconds below both"
            )
        if self.sync_budget_s is not None:
            if self.statement_s >= self.sync_budget_s:
                return (
                    f"the store statement timeout (OCSGE_STATEMENT_TIMEOUT, {self.statement_s:g} s) must be "
                    f"below the sync budget (sync_budget_s / OCSGE_SYNC_BUDGET, {self.sync_budget_s:g} s)"
                )
            if self.sync_budget_s + ANSWER_MARGIN_S > worker:
                return (
                    f"the sync budget (sync_budget_s / OCSGE_SYNC_BUDGET, {self.sync_budget_s:g} s) must end at "
                    f"least {ANSWER_MARGIN_S:g} s before the worker timeout (OCSGE_WORKER_TIMEOUT or --timeout, "
                    f"{worker:g} s)"
                )
        elif self.statement_s >= worker:
            return (
                f"the store statement timeout (OCSGE_STATEMENT_TIMEOUT, {self.statement_s:g} s) must be below "
                f"the worker timeout (OCSGE_WORKER_TIMEOUT or --timeout, {worker:g} s)"
            )
        return None


def configured_limits(worker_timeout_s: float, environ: Mapping[str, str] = os.environ) -> TimeLimits:
    """The limits a server started with ``environ`` will apply: the sync budget from its runtime configuration."""
    budget = None
    path = environ.get("PYGEOAPI_CONFIG")
    if path:
        with open(path, encoding="utf-8") as handle:
            manager = (yaml_load(handle).get("server") or {}).get("manager")
        if manager:
            budget = JobSettings.from_manager(manager).sync_budget_s
    return TimeLimits(web_timeout_from_env(environ), budget, float(worker_timeout_s))
