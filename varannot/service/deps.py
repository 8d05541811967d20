"""FastAPI dependencies: the app's :class:`ServiceState` and the authenticated caller.

:func:`authenticate` checks the bearer API key (when keys are configured) and charges the
caller's rate limit (:mod:`.security`); every ``/v1`` router depends on it. It lives apart from
:mod:`.security` because it needs the state, which itself holds the rate limiter.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .problems import ProblemError
from .security import Caller, _hash_key
from .state import ServiceState


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.varannot
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


# Declares the scheme in the OpenAPI document (components.securitySchemes + each operation's
# ``security``); the header itself is checked below, so problems stay problem+json.
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="API key as 'Authorization: Bearer <key>' (required when the server has keys)",
)


async def authenticate(
    request: Request,
    state: StateDep,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
) -> Caller:
    """Bearer API key (when keys are configured) and the caller's rate limit."""
    s = state.settings
    rate = s.rate_limit_per_second
    if s.api_keys:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ProblemError(
                401, "Unauthorized", "send an API key as 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": 'Bearer realm="varannot"'},
            )  # fmt: skip
        digest = _hash_key(token.strip())
        match = None
        for key in s.api_keys:  # compare with every key: timing says nothing
            if hmac.compare_digest(digest, key.sha256):
                match = key
        if match is None:
            raise ProblemError(
                401, "Unauthorized", "unknown API key",
                headers={"WWW-Authenticate": 'Bearer realm="varannot", error="invalid_token"'},
            )  # fmt: skip
        caller = Caller(match.name)
        if match.rate_per_second is not None:
            rate = match.rate_per_second
        who = f"key:{match.name}"
    else:
        caller = Caller("")
        who = f"client:{request.client.host if request.client else '?'}"
    if rate > 0:
        wait = state.limiter.retry_after(who, rate, s.rate_limit_burst)
        if wait is not None:
            seconds = max(1, int(wait + 0.999))
            raise ProblemError(
                429, "Too many requests", f"rate limit of {rate:g} requests/s exceeded; retry "
                f"in {seconds} s", headers={"Retry-After": str(seconds)},
            )  # fmt: skip
    return caller


CallerDep = Annotated[Caller, Depends(authenticate)]
