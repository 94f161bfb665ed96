"""The transactional outbox: a notification is never lost and never costs a broker round trip in the request.

Design (issue 13, goal 3):

- **Write.** A service that wants a task run after its change calls ``outbox_enqueue(task, **ids)`` inside its
  transaction. That is one INSERT of an ``OutboxMessage`` row (task name, keyword arguments: ids only, never
  personal data; the request id) and nothing else: no Redis, no kombu, no Celery producer. The row commits or rolls
  back with the change, so a committed change always has its notification and a rolled-back one never has.
- **Drain.** ``outbox_drain()`` takes due rows (``available_at <= now``) with ``SELECT ... FOR UPDATE SKIP LOCKED``,
  runs each task in-process (inside a savepoint, with the writing request's id restored) and deletes the rows that
  ran, in the same transaction. Several drains at once (several workers, servers, a slow beat tick) each take other
  rows and never run the same row twice while its taker's transaction is open. Celery beat publishes
  ``vanguard.outbox.tasks.drain_outbox`` every ``OUTBOX_DRAIN_SECONDS`` (5 s); any worker runs it. While Redis is
  down nothing is published and rows wait in PostgreSQL; the first tick after Redis is back sends them.
- **Run here, not re-enqueued.** The drain executes the task itself rather than publishing it as a second Celery
  message: one hop less, and the row is deleted only once the e-mail was accepted by the mail server, whereas a
  published message would be only as durable as Redis. The notification tasks stay ordinary Celery tasks (they can
  still be sent by hand), and are executed by calling them, which runs their body without Celery's retry loop.
- **Failures.** A task that raises leaves its row, with ``attempts`` + 1, ``last_error`` (the exception's type only)
  and ``available_at`` pushed back exponentially (10 s, 20 s, 40 s ... capped at one hour). Rows are never given up:
  a row that keeps failing stays visible in the admin (superusers, read-only) until its cause is fixed.
- **At least once.** A worker killed after the mail server accepted a message but before the drain's commit leaves
  the row, and the next drain sends it again. The notification tasks read the record's current status and send it,
  a harmless repeat (they are idempotent in effect); a task registered here must be idempotent too.
- **No broker (development).** With ``task_always_eager`` (no ``CELERY_BROKER_URL``) there is no worker or beat, so
  ``outbox_enqueue`` also registers ``outbox_drain`` with ``transaction.on_commit``: the e-mail is sent in-process
  right after the commit, through the same drain (a failure leaves the row for the next commit's drain).
- **No prune needed.** Rows are deleted when they ran; the table holds only the backlog.
"""
