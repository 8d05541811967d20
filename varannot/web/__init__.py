"""The service's browser page: ``index.html``, ``app.js`` and ``app.css``, shipped in the wheel.

Plain HTML, CSS and JavaScript (no build step, no CDN); served by
:mod:`varannot.service.routes.page`. The page only calls the public API and draws what the
result document says: it never decides a call.
"""
