"""The CartStore on DynamoDB: five on-demand tables (Part 7 of the series), and a sixth,
``cr-owners``, for the owners' logins and sessions (``accounts``: its items are listed there).

============  =======================  ==================================================
table         key                      notes
============  =======================  ==================================================
cr-state      ``cart_id``              ``data`` (the cart as JSON, money as exact decimal
                                       text), ``version``, ``status``, ``email``
                                       (normalised; GSI ``by-email``), ``created_at``
                                       and ``created_day`` (GSI ``by-day``),
                                       ``abandoned_at``, ``total``, and the cart's one timer:
                                       ``schedule_name``, ``wake_at``, ``wake_kind``,
                                       ``wake_step``, ``previous_schedule``
cr-sends      ``cart_id`` + ``step``   ``outcome``, ``at``, ``recipient`` (normalised),
                                       ``address``, ``sent_at`` (only once sent: GSI
                                       ``by-recipient`` on ``recipient`` + ``sent_at``)
cr-audit      ``cart_id`` + ``ts``     ``ts`` = ISO time + ``#`` + a unique suffix; and
                                       the clicks on return links, ``ts`` = ``click#`` +
                                       ISO time + suffix (``step``, ``at``): they sort
                                       after every audit row and no audit read sees them
cr-unsub      ``email``                the keyed digest of the address (never the address:
                                       ``domain.privacy.EmailKey``), ``unsubscribed_at``,
                                       ``source``
cr-event-ids  ``cart_id`` + ``event_id``  processed events (``data``, ``email`` normalised,
                                       ``received_at``); TTL attribute ``expires_at``
============  =======================  ==================================================

Times are ISO 8601 UTC strings of fixed width (``2026-05-12T14:00:00.000000Z``), so they sort
and compare as text. Multi-row writes are ``TransactWriteItems``; the cart's ``version`` makes
every cart write conditional, and the ``CancellationReasons`` of a refused transaction tell
which condition failed.

Timers: the cart row records which timer is pending (and the schedule it replaced) inside the
same transaction as the write that decided it; right after the commit the store makes the
``TimerSink`` (EventBridge Scheduler) match the row, then reads the row again in case another
writer changed it meanwhile. A crash between the commit and the Scheduler call is repaired by
the next write or redelivery for that cart: a redelivered event that turns out to be processed
already still re-applies the row's timer. So an open cart always ends up with its schedule; at
worst a stale one fires early, and the waiter decides afresh.

The store is one class assembled from its parts: ``client`` (conditional writes, paging,
timer reconciliation), ``reads``, ``writes``, ``owner`` and ``accounts``, over ``items`` (attribute
values and rows).
"""

from __future__ import annotations

from cart_recovery.adapters.aws.dynamo.accounts import Accounts
from cart_recovery.adapters.aws.dynamo.items import (
    CLICK_PREFIX,
    CLICK_QUERIES,
    CONFLICT_RETRIES,
    DAY_INDEX,
    EMAIL_INDEX,
    EVENT_ID_TTL,
    MAX_TRANSACTION,
    RECIPIENT_INDEX,
    RECONCILE_ROUNDS,
    Tables,
    from_iso,
    iso,
)
from cart_recovery.adapters.aws.dynamo.owner import Owner

__all__ = [
    "CLICK_PREFIX",
    "CLICK_QUERIES",
    "CONFLICT_RETRIES",
    "DAY_INDEX",
    "EMAIL_INDEX",
    "EVENT_ID_TTL",
    "MAX_TRANSACTION",
    "RECIPIENT_INDEX",
    "RECONCILE_ROUNDS",
    "DynamoStore",
    "Tables",
    "from_iso",
    "iso",
]


class DynamoStore(Owner, Accounts):
    """CartStore and OwnerAccounts on DynamoDB (and a WakeQueue over the rows' timers, for a
    runtime that fires its own: on AWS the ``TimerSink``, EventBridge Scheduler, fires them
    instead)."""
