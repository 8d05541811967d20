"""API keys and rate limits: who is calling and whether they may, now.

Keys are kept only as SHA-256 hashes and compared in constant time; :class:`RateLimiter` is a
per-key token bucket (rate and burst from the key's settings). The FastAPI dependency that applies
both to every ``/v1`` route is :func:`varannot.service.deps.authenticate`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

# =============================================================================================
# Auth and rate limits
# =============================================================================================


@dataclass(slots=True)
class Caller:
    """Who is calling: an API key's name, or '' when the service runs without keys."""

    name: str


class RateLimiter:
    """Token buckets per caller: ``rate`` requests/s sustained, ``burst`` at once."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, who: str, rate: float, burst: int) -> float | None:
        """None when allowed (a token is taken), else seconds until the next token."""
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) > 10_000:  # forget callers whose bucket has refilled
                self._buckets = {
                    k: (t, at)
                    for k, (t, at) in self._buckets.items()
                    if t + (now - at) * rate < burst
                }
            tokens, last = self._buckets.get(who, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[who] = (tokens - 1.0, now)
                return None
            self._buckets[who] = (tokens, now)
            return (1.0 - tokens) / rate


def _hash_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
