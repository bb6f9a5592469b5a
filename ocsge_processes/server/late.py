"""Collections that appear while the server runs, without a restart.

pygeoapi serves the collections of the configuration it loaded, and ``ocsge config`` writes there only the layers
the store holds, so that no empty collection is listed. A layer filled later by the server's own processes (the
first segmentation run published, the first artificialisation computed) would then wait for a restart. The
runtime configuration records the layers it left out (``server.config.LATE_KEY``); this middleware looks at most
every :data:`REFRESH_S` seconds (at once for a request naming one) whether the store now holds one and adds its
collections to the configuration that pygeoapi, the tile endpoint and the request guard read, in every web process
alike: the listing of /collections may lag by that delay, a request to the collection never does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import OcsgeError
from ..stores import open_store
from .config import LATE_KEY, adopt_late_collections

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: Seconds between two looks at the store: a published run is listed within this delay by every web process.
REFRESH_S = 2.0
LOGGER = logging.getLogger(__name__)


class LateCollections:
    """WSGI middleware: before a request, adopt the collections whose table appeared (throttled, thread-safe)."""

    def __init__(self, app: WSGIApplication, config: dict[str, object]) -> None:
        self.app = app
        self.config = config
        self.lock = threading.Lock()
        self.last = 0.0

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        named = environ.get("PATH_INFO", "").removeprefix("/collections/").split("/")[0]
        self.refresh(now=named in self._waiting())
        return self.app(environ, start_response)

    def _waiting(self) -> dict[str, object]:
        """The collections not published yet, by id (``server.config.LATE_KEY``)."""
        late = self.config.get(LATE_KEY)
        waiting = late.get("resources") if isinstance(late, dict) else None
        return waiting if isinstance(waiting, dict) else {}

    def refresh(self, now: bool = False) -> list[str]:
        """The collections added now (usually none). ``now``: look whatever the delay (a request names a collection
        still waiting, which another process may already serve: it must not be a 404 here)."""
        late = self.config.get(LATE_KEY)
        if not isinstance(late, dict) or not self._waiting() or (not now and time.monotonic() - self.last < REFRESH_S):
            return []
        with self.lock:
            if not now and time.monotonic() - self.last < REFRESH_S:
                return []
            self.last = time.monotonic()
            try:
                added = adopt_late_collections(self.config, open_store(str(late["store"])))
            except OcsgeError as err:  # the store slow or away (the web query limit applies): the request goes on
                LOGGER.warning("late collections not looked for (next look in %.0f s): %s", REFRESH_S, err)
                return []
        if added:
            LOGGER.info("collections published since start: %s", ", ".join(added))
        return added
