"""Writing outbox rows and draining them (the design is in vanguard/outbox/__init__.py)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from celery import Task
from django.db import transaction
from django.utils import timezone

from vanguard.core.request_context import request_id_var
from vanguard.outbox.models import OutboxMessage

logger = logging.getLogger(__name__)
task_logger = logging.getLogger("vanguard.tasks")

BATCH_SIZE = 50
# One drain run empties at most this many batches, so a large backlog never holds one worker for long; the next
# tick continues.
MAX_BATCHES = 20
BACKOFF_BASE = dt.timedelta(seconds=10)
BACKOFF_CAP = dt.timedelta(hours=1)


def _eager() -> bool:
    from vanguard.celery import app

    return bool(app.conf.task_always_eager)


def outbox_enqueue(task: Task, **kwargs: Any) -> OutboxMessage:
    """Record that `task(**kwargs)` must run once the caller's transaction commits: one INSERT, no broker call.

    `kwargs` are ids (JSON values), never personal data. Without a broker (development) the row is also drained
    in-process on commit.
    """
    message = OutboxMessage.objects.create(task=task.name, kwargs=kwargs, request_id=request_id_var.get() or "")
    if _eager():
        # robust: a failed in-process drain is logged and leaves the row; it never fails the committed request.
        transaction.on_commit(outbox_drain, robust=True)
    return message


def backoff(attempts: int) -> dt.timedelta:
    """The wait before attempt `attempts` + 1: 10 s doubling per failure, at most an hour."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)


def _run(message: OutboxMessage) -> None:
    from vanguard.celery import app

    task = app.tasks.get(message.task)
    if task is None:
        raise LookupError("unregistered task")
    token = request_id_var.set(message.request_id or f"outbox-{message.pk}")
    # The same start/finish lines a task run by a worker logs (vanguard/celery.py's signals, which a direct call
    # does not fire), under the writing request's id.
    task_logger.info("task started", extra={"task": task.name, "outbox_id": message.pk})
    started, state = time.monotonic(), "FAILURE"
    try:
        # Calling a task runs its body here (Celery's public API); its autoretry re-raises when called directly,
        # so a failure reaches the drain, which owns retries.
        task(**message.kwargs)
        state = "SUCCESS"
    finally:
        task_logger.info(
            "task finished",
            extra={
                "task": task.name,
                "outbox_id": message.pk,
                "state": state,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        request_id_var.reset(token)


def _postpone(message: OutboxMessage, exc: BaseException, now: dt.datetime) -> None:
    message.attempts += 1
    message.available_at = now + backoff(message.attempts)
    message.last_error = type(exc).__name__
    message.save(update_fields=["attempts", "available_at", "last_error"])
    logger.warning(
        "outbox task failed; retried later",
        extra={
            "task": message.task,
            "outbox_id": message.pk,
            "attempts": message.attempts,
            "error": message.last_error,
            "retry_at": message.available_at.isoformat(),
        },
    )


def _drain_batch(*, batch_size: int, now: dt.datetime) -> tuple[int, int]:
    """Run one batch of due rows in one transaction; returns (rows that ran, rows taken)."""
    with transaction.atomic():
        messages = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(available_at__lte=now)
            .order_by("available_at", "id")[:batch_size]
        )
        done = []
        for message in messages:
            try:
                # A savepoint: a task whose SQL fails cannot abort the batch's transaction.
                with transaction.atomic():
                    _run(message)
            except Exception as exc:  # any failure of one task is that row's, retried with backoff
                _postpone(message, exc, now)
            else:
                done.append(message.pk)
        if done:
            OutboxMessage.objects.filter(pk__in=done).delete()
    return len(done), len(messages)


def outbox_drain(
    *, batch_size: int = BATCH_SIZE, max_batches: int = MAX_BATCHES, now: dt.datetime | None = None
) -> int:
    """Run the due outbox rows and delete those that ran; returns how many ran.

    Locks each batch with FOR UPDATE SKIP LOCKED, so concurrent drains share the backlog and never run a row
    twice while it is held; a failing row is postponed with backoff. `now` is for tests (the default is the clock).
    """
    ran = 0
    for _ in range(max_batches):
        done, taken = _drain_batch(batch_size=batch_size, now=now or timezone.now())
        ran += done
        if taken < batch_size:
            break
    return ran
