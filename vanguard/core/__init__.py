"""The foundation under the apps: what every layer may import and what imports no app.

errors (domain errors, mapped once per interface), events (the domain-event base model), numbers (record
numbers), dates, money, emails, request_context (request id and user of the current request or job), net (client
addresses behind trusted proxies), transitions (the status-change tables), pagination (pages and keyset cursors
for selectors), erasure (the scrub loop the apps' erasure services share). Nothing here imports `customers`,
`policies`, `claims`, `compliance`, `vanguard.accounts` or the composition layer (`vanguard.api`, dashboard,
health, seeding, admin); tests/test_layers.py fails if it does.
"""
