"""The Celery app, configured from Django settings (``CELERY_*`` names).

Without a broker (``REDIS_URL``/``CELERY_BROKER_URL`` unset) tasks run in-process at enqueue time, so a bare
development machine needs no Redis. With a broker, start a worker and beat (see README, "Production").

Requests never publish: services write an outbox row in their transaction and beat's ``drain_outbox`` runs it on a
worker (vanguard/outbox), so a change committed while Redis is down still sends its notification later.

The request id of the web request (or job) that enqueues a task travels with the message as the
``request_id`` header; the worker restores it into ``request_id_var`` before the task runs, so the task's log
lines and the audit rows it writes (auditlog's correlation id) carry the id of the request that caused them.
"""

from __future__ import annotations

import logging
import os
import time

from celery import Celery
from celery.signals import before_task_publish, task_failure, task_postrun, task_prerun, task_retry

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vanguard.settings")

app = Celery("vanguard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["vanguard.accounts", "vanguard.api_support", "vanguard.outbox"])
if app.conf.task_always_eager and not app.conf.broker_url:
    # Eager mode still builds a (never used) producer per call; point it at the in-memory transport instead of
    # Celery's default amqp://localhost, which logs a warning on every enqueue.
    app.conf.broker_url = "memory://localhost/"

logger = logging.getLogger("vanguard.tasks")

REQUEST_ID_HEADER = "request_id"


@before_task_publish.connect(dispatch_uid="vanguard.request_id.publish")
def _attach_request_id(sender=None, headers=None, **kwargs) -> None:
    """Put the current request id on the outgoing message (protocol 2 keeps custom headers)."""
    from vanguard.core.request_context import request_id_var

    request_id = request_id_var.get()
    if headers is not None and request_id and not headers.get(REQUEST_ID_HEADER):
        headers[REQUEST_ID_HEADER] = request_id


@task_prerun.connect(dispatch_uid="vanguard.request_id.prerun")
def _restore_request_id(task_id=None, task=None, **kwargs) -> None:
    """In the worker: adopt the message's request id (or mint a job id) for the duration of the task.

    Eager tasks run inside the caller's context, which already holds the right id; they have no header and keep it.
    """
    from vanguard.core.request_context import clean_request_id, request_id_var

    header = getattr(task.request, REQUEST_ID_HEADER, None) if task is not None else None
    if header is None and task is not None and task.request.is_eager:
        token = None
    else:
        token = request_id_var.set(clean_request_id(header) if header else f"task-{task_id}")
    if task is not None:
        task.request._vanguard_ctx = (token, time.monotonic())
    logger.info("task started", extra={"task": getattr(task, "name", None), "task_id": task_id})


@task_postrun.connect(dispatch_uid="vanguard.request_id.postrun")
def _forget_request_id(task_id=None, task=None, state=None, **kwargs) -> None:
    from vanguard.core.request_context import request_id_var

    token, started = getattr(task.request, "_vanguard_ctx", (None, None)) if task is not None else (None, None)
    duration_ms = round((time.monotonic() - started) * 1000, 1) if started is not None else None
    logger.info(
        "task finished",
        extra={"task": getattr(task, "name", None), "task_id": task_id, "state": state, "duration_ms": duration_ms},
    )
    if token is not None:
        request_id_var.reset(token)


@task_retry.connect(dispatch_uid="vanguard.tasks.retry")
def _log_retry(request=None, reason=None, **kwargs) -> None:
    # The reason's type only: exception messages can quote row data.
    logger.warning(
        "task retry scheduled", extra={"task": getattr(request, "task", None), "reason": type(reason).__name__}
    )


@task_failure.connect(dispatch_uid="vanguard.tasks.failure")
def _log_failure(sender=None, task_id=None, exception=None, **kwargs) -> None:
    logger.error(
        "task failed",
        extra={"task": getattr(sender, "name", None), "task_id": task_id, "error": type(exception).__name__},
    )
