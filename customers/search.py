"""What a customers search term is (SPEC §6): a policy number, a national id, or an e-mail.

The customers changelist searches a national id through its blind index and posts its search box
(`vanguard.admin_search`): a national id or an e-mail never travels in the URL.
"""

from __future__ import annotations

import re

from django.db.models import Q, QuerySet

from customers.models import Customer
from vanguard.admin_search import search_words
from vanguard.core.numbers import is_number

# A national id: letters, digits, spaces and dashes with at least four digits (US SSN, UK NI number...).
SSN_LIKE = re.compile(r"^(?=(?:[^0-9]*[0-9]){4})[0-9A-Za-z][0-9A-Za-z \-]{5,30}$")
# Only digits, spaces and dashes with at least six digits: a national id, never a name or an email.
DIGITS_ONLY_ID = re.compile(r"^(?=(?:[^0-9]*[0-9]){6})[0-9][0-9 \-]{5,30}$")


def looks_like_ssn(term: str) -> bool:
    return bool(SSN_LIKE.match(term)) and not is_number(term, "POL")


def is_sensitive_term(term: str) -> bool:
    """A term that must not appear in a URL: a national id (or anything shaped like one) or an e-mail (part)."""
    term = term.strip()
    return bool(DIGITS_ONLY_ID.match(term)) or looks_like_ssn(term) or "@" in term


def customers_matching(search_term: str) -> QuerySet[Customer]:
    """Customers whose first name, last name or e-mail contains every word of `search_term` (case-insensitive).

    The admin's own search semantics (ModelAdmin.get_search_results: smart_split words, quoted phrases kept
    together, each word matched by any field), as a query on the customers table alone, so each `icontains` is
    answered by its trigram index (migration 0003). The policy and claim changelists filter with
    `customer_id IN (this)` instead of an OR across a join, which the planner cannot answer from any index.
    """
    queryset = Customer.objects.all()
    for bit in search_words(search_term):
        queryset = queryset.filter(Q(last_name__icontains=bit) | Q(first_name__icontains=bit) | Q(email__icontains=bit))
    return queryset
