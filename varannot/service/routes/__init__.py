"""HTTP routes, one module per resource; each route is thin and calls the library through
:mod:`varannot.service.runner`.

:mod:`.annotate` (synchronous annotation), :mod:`.jobs` (durable jobs), :mod:`.reference`
(knowledge base and transcripts), :mod:`.health` (liveness, readiness, metrics; no API key).
The ``/v1`` routers are included by :func:`varannot.service.app.create_app` in this order,
which is also the order of the OpenAPI document.
"""
