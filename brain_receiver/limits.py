"""Rate limits of the receiver: token buckets per collector and per client address.

Two limits, checked by the authentication dependency before any request body is read:

* **failed authentications per client address** (strict): each wrong password takes a
  token from the address's bucket; an address with an empty bucket gets 429 before its
  password is even checked, so guessing passwords (and making the receiver spend argon2
  time on them) is slow. Requests without credentials are answered 401 and not
  counted: they guess nothing and cost nothing.
* **requests per authenticated collector** (generous): taken only after the password
  matched, so nobody can spend a collector's bucket without its password.

The buckets live in this process's memory. With several workers or replicas each keeps
its own, so the effective limits are multiplied by their number, and a restart resets
them; a limit shared by all replicas belongs to the ingress in front of them.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class TokenBuckets:
    """One token bucket per key, refilled at ``rate_per_s`` up to ``burst`` tokens.

    At most ``max_keys`` buckets are kept; the least recently used one is forgotten
    first (a forgotten bucket starts full again), so a flood of distinct addresses
    cannot grow memory without bound.
    """

    def __init__(self, rate_per_s: float, burst: int, *, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_s, self.burst, self.max_keys = rate_per_s, burst, max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def _bucket(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(float(self.burst),
                                bucket.tokens + (now - bucket.stamp) * self.rate_per_s)
            bucket.stamp = now
            self._buckets.move_to_end(key)
        return bucket

    def _wait_s(self, bucket: _Bucket) -> float:
        return (1.0 - bucket.tokens) / self.rate_per_s

    def blocked(self, key: str) -> float | None:
        """Seconds until ``key`` has a token again, or None if it has one (none taken)."""
        with self._lock:
            bucket = self._bucket(key)
            return self._wait_s(bucket) if bucket.tokens < 1.0 else None

    def take(self, key: str) -> float | None:
        """Take a token: None if there was one, else the seconds until there is."""
        with self._lock:
            bucket = self._bucket(key)
            if bucket.tokens < 1.0:
                return self._wait_s(bucket)
            bucket.tokens -= 1.0
            return None


def retry_after(seconds: float) -> str:
    """The ``Retry-After`` header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
