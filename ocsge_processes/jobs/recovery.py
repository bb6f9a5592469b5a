"""Queued jobs whose broker message was lost are queued again by an idle worker: the job records, not the broker,
say which jobs must still run.

A Redis message can be lost between the broker and a job's start: popped into the connection of a worker that is
being killed, or waiting unacknowledged for a worker that died, or acknowledged by a worker killed before it
marked the job ``running`` (and a web process can die between recording a job and queuing it). The job then stays
``accepted`` forever. A worker that consumes a job's queue and has received nothing for ``after_s`` seconds since
the job was accepted proves its message is no longer in the queue (BRPOP would have handed it over): it sends the
job again. A message sent twice runs once, because only one worker can move a job from ``accepted`` to
``running`` (``JobRecords.start``); the spare one is dropped in milliseconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from .records import JobRecords

LOGGER = logging.getLogger(__name__)
#: Most accepted jobs looked at per check (newest first): an idle worker has no backlog, only lost jobs.
BATCH = 100


class LostJobs:
    """Tracks how long this worker has been idle, and queues again the accepted jobs nobody received meanwhile."""

    def __init__(
        self,
        records: JobRecords,
        queue_of: Callable[[str, Mapping[str, object] | None], str],
        send: Callable[[str, str], None],
        after_s: float,
    ) -> None:
        self.records = records
        self.queue_of = queue_of
        self.send = send
        self.after_s = after_s
        self.idle_since: float | None = None
        self.received = False

    def check(self, queues: Iterable[str], busy: bool, now: float | None = None) -> list[str]:
        """One periodic look (``busy``: a job is reserved or running here); return the ids sent again."""
        now = time.time() if now is None else now
        if busy or self.received:
            self.idle_since, self.received = None, False
            return []
        if self.idle_since is None:
            self.idle_since = now
            return []
        consumed = set(queues)
        sent = []
        for job in self.records.list(BATCH, status="accepted")[0]:
            queue = self.queue_of(job["process_id"], job["request"].get("inputs"))  # the queue it was sent to
            waited = now - max(_timestamp(job["created"]), self.idle_since)
            if queue in consumed and waited >= self.after_s:
                LOGGER.warning(
                    "job %s accepted %.0f s ago and received by no idle worker: queued again on %s",
                    job["identifier"],
                    now - _timestamp(job["created"]),
                    queue,
                )
                self.send(job["identifier"], queue)
                sent.append(job["identifier"])
        if sent:
            self.idle_since = now  # give the copies the same time to be received before sending any again
        return sent


def _timestamp(text: str) -> float:
    """Seconds since the epoch of a job document's timestamp (UTC, ISO 8601)."""
    return datetime.fromisoformat(text).timestamp()
