"""A claim's money (SPEC §10): reserves, payments under four-eyes control, recoveries and the incurred totals.

services: the writes (H5); verify: the reconciliation of the stored totals with the rows; selectors, schemas, api,
admin, forms: the reads and the two interfaces.
"""
