"""A lease on one key of a batch (a département), kept in the store's marks: two runs never compute it at once.

The lease is a note (scope ``<batch>/lease``) naming its holder and the moment it lapses, in seconds since the
epoch: runs on several machines share no monotonic clock, and NTP keeps their wall clocks far closer than a lease
lasts. It is taken with the store's compare-and-set (``FeatureStore.swap_mark``), so of two runs that find the key
free only one takes it. Its holder renews it at every heartbeat; a holder that died stops renewing, so its lease
lapses after ``ttl_s`` and the next run takes the key over.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid

from ..errors import OcsgeError
from ..stores import FeatureStore


def lease_scope(scope: str) -> str:
    """Where the leases of batch ``scope`` go (apart from its progress and its own notes)."""
    return f"{scope}/lease"


class LeaseTakenError(OcsgeError):
    """Another live run holds the key."""


class Lease:
    """This process's claim on ``key`` of batch ``scope``, valid ``ttl_s`` after each renewal."""

    def __init__(self, store: FeatureStore, scope: str, key: str, ttl_s: float) -> None:
        self.store, self.scope, self.key, self.ttl_s = store, lease_scope(scope), key, ttl_s
        #: Who holds it, as a person reading the note would look for it: machine, process, and a unique part.
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._note: str | None = None

    def take(self) -> None:
        """Hold the key, or raise LeaseTakenError naming the live holder. A lapsed lease is taken over."""
        current = self.store.marks(self.scope).get(self.key)
        if current is not None:
            note = json.loads(current)
            if note["until"] > time.time():
                raise LeaseTakenError(
                    f"{self.key} is being computed by another run ({note['holder']}); its lease lapses "
                    f"{note['until'] - time.time():.0f} s from now unless that run renews it"
                )
        note = self._next()
        if not self.store.swap_mark(self.scope, self.key, current, note):
            raise LeaseTakenError(f"{self.key} was taken by another run at the same moment")
        self._note = note

    def renew(self) -> bool:
        """Push the lapse ``ttl_s`` further; False if the lease was lost (it lapsed and another run took it)."""
        if self._note is None:
            return False
        note = self._next()
        if not self.store.swap_mark(self.scope, self.key, self._note, note):
            self._note = None
            return False
        self._note = note
        return True

    def release(self) -> None:
        """Free the key now (only if this run still holds it)."""
        if self._note is not None:
            self.store.swap_mark(self.scope, self.key, self._note, None)
            self._note = None

    def _next(self) -> str:
        return json.dumps({"holder": self.holder, "until": time.time() + self.ttl_s})
