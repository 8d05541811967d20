"""Application state: what the routes need, built once per app and reached through ``Depends``.

:class:`ServiceState` owns the settings, engines, job store, thread pool, rate limiter, metrics and
the data-directory lock, starts and stops the job runner with the app's lifespan and executes
queued jobs (:meth:`ServiceState.execute_job`).
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from .jobs import DataDirLock, Job, JobRunner, JobStore
from .metrics import Metrics
from .problems import problem_of
from .runner import EngineSet, run_files, run_json
from .schemas import AnnotateRequest, FileOptions
from .security import RateLimiter
from .settings import ServiceSettings, log
from .uploads import StoredFile

# =============================================================================================
# Application state and dependencies
# =============================================================================================


@dataclass
class ServiceState:
    """What the routes need, built once per app and reached through ``Depends``."""

    settings: ServiceSettings
    engines: EngineSet
    store: JobStore
    pool: ThreadPoolExecutor
    limiter: RateLimiter = field(default_factory=RateLimiter)
    runner: JobRunner | None = None
    metrics: Metrics | None = None
    lock: DataDirLock | None = None
    started: bool = False

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def start(self) -> None:
        if self.store.is_sqlite and self.lock is None:
            self.lock = DataDirLock(self.data_dir)
            self.lock.acquire()
        self._sweep_dirs()
        self.runner = JobRunner(
            store=self.store,
            execute=self.execute_job,
            problem_of=problem_of,
            workers=self.settings.job_workers,
            max_attempts=self.settings.job_max_attempts,
            poll_seconds=self.settings.job_poll_s,
            on_settled=self._job_settled,
        )
        self.runner.start()
        self.started = True

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop(self.settings.shutdown_grace_s)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.store.dispose()
        if self.lock is not None:
            self.lock.release()
        self.started = False

    def _sweep_dirs(self) -> None:
        """Staged uploads of requests that died with the last process are garbage.

        With SQLite this server owns the directory; with a shared database the directory may
        be shared too, so only day-old staging is removed and job folders are left alone.
        """
        uploads = self.data_dir / "uploads"
        if uploads.is_dir():
            cutoff = time.time() - 86400
            for d in uploads.iterdir():
                with suppress(OSError):
                    if self.store.is_sqlite or d.stat().st_mtime < cutoff:
                        shutil.rmtree(d, ignore_errors=True)
        jobs = self.data_dir / "jobs"
        if self.store.is_sqlite and jobs.is_dir():
            for d in jobs.iterdir():
                job = self.store.get(d.name)
                if job is None or job.status in ("finished", "failed"):
                    shutil.rmtree(d, ignore_errors=True)

    def job_dir(self, job_id: str) -> Path:
        return self.data_dir / "jobs" / job_id

    def execute_job(self, job: Job) -> str:
        """Run one job in a worker thread; the result document as JSON text."""
        started = time.monotonic()
        p = job.params
        if p["kind"] == "files":
            base = self.job_dir(job.id)
            files = [
                StoredFile(base / f["stored"], f["display"], f["kind"], f["size"])
                for f in p["files"]
            ]
            missing = [f.display for f in files if not f.path.is_file()]
            if missing:
                raise InputError(
                    "the uploaded file is no longer in the server's data directory",
                    source=", ".join(missing),
                )
            doc = run_files(self.engines, files, FileOptions.model_validate(p["options"]))
        else:
            req = AnnotateRequest.model_validate(p["request"])
            doc = run_json(self.engines, req, self.settings.max_json_variants)
        if self.metrics is not None:
            self.metrics.documents.labels("job").inc()
        log.info("job %s done in %.2f s", job.id, time.monotonic() - started)
        return doc.model_dump_json()

    def _job_settled(self, job: Job, outcome: str) -> None:
        shutil.rmtree(self.job_dir(job.id), ignore_errors=True)
        if self.metrics is not None:
            self.metrics.jobs_settled.labels(outcome).inc()
