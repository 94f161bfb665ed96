"""Demo and volume data for `manage.py seed` (SPEC §8).

- `staff`: one user per role plus a superuser, passwords generated and printed once.
- `demo`: a small, hand-written book of business written through the services (validated, audited).
- `volume`: N synthetic customers with policies, claims and events through bulk inserts (COPY on PostgreSQL).
- `reset`: the development-only wipe behind `seed --reset`.
"""
