"""Per-client rate limits for the app's endpoints, who a client is, and the cap on an upload's size.

A client is its user name when the app has a login, else the address its requests come from (behind a
proxy every user shares the proxy's address, and so one allowance).
"""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from typing import Any

from resnet_any.app.messages import PublicError

WINDOW_S = 60.0


def upload_size(path: Any, max_bytes: int, empty_hint: str = "") -> int:
    """The size of an uploaded file, or a PublicError (no server path) when it is gone, empty or over the cap."""
    import os

    try:
        size = os.stat(path).st_size
    except OSError:
        raise PublicError("the uploaded file is gone; upload it again") from None
    if size > max_bytes:
        raise PublicError(f"the file is {size / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB")
    if size == 0:
        raise PublicError("the uploaded file is empty (0 bytes)" + (f"; {empty_hint}" if empty_hint else ""))
    return size


def client_id(request: Any) -> str:
    """The identity a rate limit counts against: "user:NAME" when logged in, else "host:ADDRESS"."""
    if request is None:
        return "local"
    user = getattr(request, "username", None)
    if user:
        return f"user:{user}"
    client = getattr(request, "client", None)
    host = getattr(client, "host", None) if client is not None else None
    return f"host:{host or 'unknown'}"


class RateLimiter:
    """At most `per_minute` calls of one kind per client in any 60 s (a sliding window); None or 0: no limit.

    `check` counts a call or raises a PublicError saying the limit and when to try again, at once (a refused
    call never waits). Clients not seen for a while are forgotten beyond `max_clients`.
    """

    def __init__(self, per_minute: int | None, what: str, max_clients: int = 10_000,
                 clock: Any = time.monotonic) -> None:
        self.per_minute = int(per_minute) if per_minute else None
        self.what = what
        self.max_clients = max_clients
        self.clock = clock
        self._calls: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        """Count one call of `client`, or raise a PublicError if it has had its allowance this minute."""
        if self.per_minute is None:
            return
        now = self.clock()
        with self._lock:
            calls = self._calls.get(client)
            if calls is None:
                calls = self._calls[client] = deque()
            self._calls.move_to_end(client)
            while calls and now - calls[0] >= WINDOW_S:
                calls.popleft()
            if len(calls) >= self.per_minute:
                wait = max(1, math.ceil(WINDOW_S - (now - calls[0])))
                raise PublicError(f"too many {self.what} requests: this server allows {self.per_minute} a minute per "
                               f"user; try again in {wait} s")
            calls.append(now)
            while len(self._calls) > self.max_clients:
                self._calls.popitem(last=False)
