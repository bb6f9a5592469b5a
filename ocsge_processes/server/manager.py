"""pygeoapi job manager over ``ocsge_processes.jobs``: durable records, bounded or distributed execution, cancel.

Configured as ``server.manager`` in ``pygeoapi-config.yml``::

    manager:
      name: ocsge_processes.server.manager.OcsgeManager
      connection: build/jobs.sqlite     # or postgresql://…
      executor: inprocess               # or celery (workers: docs/jobs.md)
      broker: redis://127.0.0.1:6379/0  # celery only
      max_jobs: 2                       # in-process jobs at once; more wait in a queue
      stale_after_s: 60                 # an active job without heartbeat for this long ends failed
      allow_internal_callbacks: false
      sync_budget_s: 60                 # how long a sync execution's request waits for its job

No execution runs in a request's thread: a synchronous one is a job of the executor like any other, and its request
waits for it up to ``sync_budget_s``; past it the client gets what an asynchronous execution gets (201 Created, the
job's status, ``Location: /jobs/{id}``) and the job carries on. A sync execution whose cost is known up front to
exceed the budget (``sync_cost`` of its process, ``workflows/cost.py``) is refused with a 400 that says to execute
it asynchronously. A refused callback URL and a sync execution over budget are the client's InvalidInputError, and
a failed sync execution is answered with its job's error, each with the code and status of the error table.
docs/limits.md has the figures.

pygeoapi calls this adapter; the records, executors and runner know nothing of pygeoapi's API.
"""

from __future__ import annotations

import logging
from functools import partialmethod
from typing import Any

from pygeoapi.process.base import BaseProcessor, JobNotFoundError, JobResultNotFoundError
from pygeoapi.process.manager.base import BaseManager
from pygeoapi.util import (
    JobStatus,
    ProcessExecutionMode,
    RequestedProcessExecutionMode,
    RequestedResponse,
    Subscriber,
)

from ..errors import InvalidInputError, OcsgeError
from ..jobs import callbacks
from ..jobs.distributed import CeleryExecutor
from ..jobs.fanout import cancel_job
from ..jobs.inprocess import InProcessExecutor
from ..jobs.records import ACTIVE, JobNotFound, open_records
from ..jobs.runner import Heartbeat, decode, failure, wait_for_end
from ..jobs.settings import JobSettings
from ..results import open_results
from ..stores import open_store
from .errors import ProcessAnswerError, answer_for_code, process_error

LOGGER = logging.getLogger(__name__)


class OcsgeManager(BaseManager):
    """Jobs in SQLite or PostgreSQL, run in-process or on Celery workers."""

    # Any: the manager block of the pygeoapi configuration, free-form
    def __init__(self, manager_def: dict[str, Any]) -> None:
        super().__init__(manager_def)
        self.is_async = True
        self.supports_subscribing = True
        self.settings = JobSettings.from_manager(manager_def)
        self.records = open_records(self.settings.connection)
        self.heartbeat = Heartbeat(self.records, self.settings.heartbeat_s)
        self.results = open_results(self.settings.connection)
        if self.settings.executor == "celery":
            self.executor: CeleryExecutor | InProcessExecutor = CeleryExecutor(self.settings.broker, self.processes)
        else:
            self.executor = InProcessExecutor(
                self.records, self.heartbeat, self.settings.max_jobs, self.settings.allow_internal_callbacks
            )

    # Any: job documents as pygeoapi shapes them (its JSON)
    def get_jobs(
        self, status: JobStatus | None = None, limit: int | None = None, offset: int | None = None
    ) -> dict[str, Any]:
        """One page of jobs, cut in the database; jobs whose worker died are failed first."""
        self.records.fail_stale(self.settings.stale_after_s)
        jobs, matched = self.records.list(limit or 10, offset or 0, status.value if status else None)
        return {"jobs": jobs, "numberMatched": matched}

    # Any: a job document as pygeoapi shapes it (its JSON)
    def add_job(self, job_metadata: dict[str, Any]) -> str:
        self.records.add(job_metadata)
        return str(job_metadata["identifier"])

    # Any: pygeoapi's update of a job document (its JSON)
    def update_job(self, job_id: str, update_dict: dict[str, Any]) -> bool:
        """Progress and message only: status changes go through the runner's conditional updates."""
        self.records.report(job_id, int(update_dict.get("progress", 0)), str(update_dict.get("message", "")))
        return True

    # Any: a job document as pygeoapi shapes it (its JSON)
    def get_job(self, job_id: str) -> dict[str, Any]:
        self.records.fail_stale(self.settings.stale_after_s)
        try:
            return self.records.get(job_id)
        except JobNotFound as err:
            raise JobNotFoundError(job_id) from err

    # Any: a result is whatever document or bytes its process gave
    def get_job_result(self, job_id: str) -> tuple[str, Any]:
        try:
            mimetype, data = self.records.result(job_id)
        except JobNotFound as err:
            raise JobResultNotFoundError(job_id) from err
        return mimetype, decode(mimetype, data)

    def delete_job(self, job_id: str) -> bool:
        """Dismiss the job, drop its result and stop it wherever it runs."""
        try:
            before = self.records.dismiss(job_id)
        except JobNotFound as err:
            raise JobNotFoundError(job_id) from err
        if before in ACTIVE:
            self.executor.cancel(job_id)
            self._cancel_fanouts(job_id)
        self.results.remove_job(job_id)  # its result files (extractions) go with it
        return True

    # Any: the inputs are the execution request's free-form JSON, the outputs whatever document the process gives
    def execute_process(  # type: ignore[override]  # pygeoapi 0.24 annotates four values and returns five
        self,
        process_id: str,
        data_dict: dict[str, Any],
        execution_mode: RequestedProcessExecutionMode | None = None,
        requested_outputs: dict[str, Any] | None = None,
        subscriber: Subscriber | None = None,
        requested_response: str | None = RequestedResponse.raw.value,
    ) -> tuple[str, str, Any, JobStatus, dict[str, str] | None]:
        """Refuse callbacks to the server's own network and sync executions over budget before any job exists,
        then execute as pygeoapi does; a sync execution still running at the end of the budget answers as an async
        one (201 and the job's status: ``patches.answer_sync_over_budget``)."""
        try:
            self._refuse_callbacks(subscriber)
            self._refuse_costly_sync(process_id, data_dict, execution_mode)
            check = getattr(self.get_processor(process_id), "check_request", None)  # a process's own checks
            if check is not None and isinstance(data_dict, dict):
                check(data_dict)
        except OcsgeError as err:
            raise process_error(err) from err
        job_id, mimetype, outputs, status, headers = super().execute_process(  # type: ignore[misc]  # five values
            process_id,
            data_dict,
            execution_mode,
            requested_outputs,
            subscriber,
            requested_response,  # type: ignore[arg-type]  # pygeoapi passes the body's string where it says the enum
        )
        asked_async = (headers or {}).get("Preference-Applied") == RequestedProcessExecutionMode.respond_async.value
        if status == JobStatus.accepted and not asked_async:
            headers = {}  # the client's wait was not honoured to the end: no Preference-Applied
        return job_id, mimetype, outputs, status, headers

    def _cancel_fanouts(self, job_id: str) -> None:
        """Cancel the tasks a dismissed job fanned out (``jobs.fanout.cancel_job``), here: on Celery the job's own
        process is killed before it could. Their notes are in the stores the processes name."""
        stores = {str(r["processor"]["store"]) for r in self.processes.values() if r.get("processor", {}).get("store")}
        for url in sorted(stores):
            try:
                cancel_job(open_store(url), job_id)
            except Exception as err:  # a store out of reach: the job is dismissed all the same; its tasks run on
                LOGGER.warning("fan-out of dismissed job %s not cancelled in %s: %s", job_id, url, err)

    def _refuse_callbacks(self, subscriber: Subscriber | None) -> None:
        for url in (subscriber.success_uri, subscriber.in_progress_uri, subscriber.failed_uri) if subscriber else ():
            reason = url and callbacks.refusal(url, self.settings.allow_internal_callbacks)
            if reason:
                raise InvalidInputError(reason)

    def _refuse_costly_sync(
        self, process_id: str, data_dict: dict[str, Any], execution_mode: RequestedProcessExecutionMode | None
    ) -> None:
        processor = self.get_processor(process_id)
        options = processor.metadata.get("jobControlOptions", [])
        asynchronous = (
            execution_mode == RequestedProcessExecutionMode.respond_async
            and ProcessExecutionMode.async_execute.value in options
        ) or ProcessExecutionMode.sync_execute.value not in options
        estimate = getattr(processor, "sync_cost", None)
        if asynchronous or estimate is None or not isinstance(data_dict, dict):
            return
        try:
            cost = estimate(data_dict)
        except OcsgeError:  # the store cannot say: the run will, with its own message
            cost = None
        budget_s = self.settings.sync_budget_s
        if cost is not None and cost.seconds > budget_s:
            raise InvalidInputError(
                f"this execution needs at least {cost.seconds:.3g} s ({cost.what}), more than the {budget_s:g} s a "
                "synchronous execution may take; execute it asynchronously (header 'Prefer: respond-async') and fetch "
                "its result from /jobs/{jobID}/results"
            )

    def _execute_handler(
        self,
        wait: bool,
        p: BaseProcessor,
        job_id: str,
        data_dict: dict[str, Any],
        requested_outputs: dict[str, Any] | None = None,
        subscriber: Subscriber | None = None,
        requested_response: str | None = RequestedResponse.raw.value,
    ) -> tuple[str, Any, JobStatus]:
        """A job of the executor like any other, accepted at once (async) or waited for up to the sync budget
        (``wait``): still running then, accepted; failed, its error with the table's status (pygeoapi would
        answer 400 whatever the error)."""
        self._save_request(job_id, data_dict, requested_outputs, subscriber, requested_response)
        self._submit(job_id, data_dict)
        status = wait_for_end(self.records, job_id, self.settings.sync_budget_s) if wait else JobStatus.accepted.value
        if status == JobStatus.successful.value:
            mimetype, data = self.records.result(job_id)
            return mimetype, decode(mimetype, data), JobStatus.successful
        if status == JobStatus.failed.value:
            error = failure(self.records.get(job_id)["message"])
            raise ProcessAnswerError(answer_for_code(error["code"]), error["description"])
        if status == JobStatus.dismissed.value:
            outputs = {
                "type": "NoApplicableCode",
                "code": "NoApplicableCode",
                "description": "the job was dismissed while it ran",
            }
            return "application/json", outputs, JobStatus.failed
        return "application/json", None, JobStatus.accepted

    _execute_handler_sync = partialmethod(_execute_handler, True)
    _execute_handler_async = partialmethod(_execute_handler, False)

    # Any: the request's inputs are free-form JSON
    def _submit(self, job_id: str, inputs: dict[str, Any]) -> None:
        """Hand the job to the executor with a processor of its own: pygeoapi keeps the one it made on the shared
        manager (``self.processor``), which another request thread of the worker may have replaced meanwhile. The
        inputs choose the queue where they make the job fan its work out (``jobs.distributed.queue_for``)."""
        process_id = self.records.get(job_id)["process_id"]
        self.executor.submit(job_id, process_id, self.get_processor(process_id), inputs)

    def _save_request(
        self,
        job_id: str,
        inputs: dict[str, Any],
        outputs: dict[str, Any] | None,
        subscriber: Subscriber | None,
        response: str | None,
    ) -> None:
        """Everything a worker on another machine needs to run the job, next to its record."""
        self.records.set_request(
            job_id,
            {
                "inputs": inputs,
                "outputs": outputs,
                "response": response or "raw",
                "subscriber": {
                    "successUri": subscriber.success_uri,
                    "inProgressUri": subscriber.in_progress_uri,
                    "failedUri": subscriber.failed_uri,
                }
                if subscriber
                else None,
            },
        )

    def __repr__(self) -> str:
        return f"<OcsgeManager> {self.settings.executor} {self.settings.connection}"


# Any: job and status documents are pygeoapi's JSON
def status_document(job: dict[str, Any], base_url: str) -> dict[str, Any]:
    """A job's status as ``GET /jobs/{id}`` gives it (OGC API – Processes ``statusInfo``), with its links."""
    job_url = f"{base_url}/jobs/{job['identifier']}"
    return {
        "type": "process",
        "processID": job["process_id"],
        "jobID": job["identifier"],
        "status": job["status"],
        "message": job["message"],
        "progress": job["progress"],
        "created": job["created"],
        "started": job["started"],
        "updated": job["updated"],
        "finished": job["finished"],
        "links": [
            {"href": f"{job_url}?f=json", "rel": "status", "type": "application/json", "title": "the job's status"},
            {
                "href": f"{job_url}/results?f=json",
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/results",
                "type": "application/json",
                "title": "the job's results, once it is successful",
            },
        ],
    }
