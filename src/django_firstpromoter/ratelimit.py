"""Keep every sender, in every process, under the account's calls per minute.

FirstPromoter counts an account's calls over a sliding minute, so the limit must
hold for any 60 seconds, not per clock minute: counters per minute would let
twice the limit through around each minute's turn.

Time is cut into slots of ``window / (limit - 1)`` seconds and each slot admits
one call. A sender takes the first free slot, now or later, and sleeps until it
begins. Any ``limit + 1`` calls sit in as many different slots, so the first and
the last are at least ``limit`` slots apart; the first may have gone at the very
end of its slot and the last at the very start of its own, so more than
``limit - 1`` slots, the whole window, lie between them. That is why one call a
minute cannot be paced this way and the limit is at least 2. Spreading the calls
evenly also suits the case a limit is for: a backlog that several workers drain
at once. A lone sale never waits.

A slot is taken with ``cache.add`` of the slot's own key, which creates the key
only if it is absent. Slot numbers only grow, so that key is always new, and
adding a new key is atomic on every shared backend: ``SET NX`` on Redis, ``add``
on Memcached, the primary key on the database cache. ``incr`` is not: the
database cache's is a read and then a write, which two processes can interleave.

Unless ``RATE_LIMIT_CACHE`` names a cache, the slots are kept in the database,
the one store every sender already shares: Django's ``DatabaseCache`` on the
app's own table (``RateLimitSlot``), so a project needs no shared cache for the
limit to hold across processes. Its ``add`` reports a failed write as a slot
taken, so a slot lost is read again with the next look: one that nobody holds
was refused by the store, and after a few such refusals ``SlotRefused`` is raised
rather than trying the next slot, and the next, for ever. A database that does
not answer at all raises its own error from the first ``add``.

Cost: when the current slot is free, one cache call. Otherwise one read of the
next slots (``get_many``) finds the first free one and an ``add`` takes it; the
sender then sleeps until that slot, without polling. A slot that is over before
its sender gets to go (a slow cache, a late wake-up) is left unused and another
taken, since a call made late would fall in the next slot's time. On the
database an ``add`` is a ``COUNT(*)``, then a ``SELECT`` and an ``INSERT`` in a
transaction: about 2.5 times Redis's cost, 2.2 ms against 0.85 on PostgreSQL
(``python -m bench --sections ratelimit``), under 2.5 % of the default's slot.

The database's slots are written in the sender's transaction, if it is in one:
others do not see them before it commits. On PostgreSQL another sender that
picks one of them waits on its primary key until then and loses it, so the limit
holds; a rollback frees slots that were used. Senders should not be in one: the
on-commit hook and the worker are not.

FirstPromoter counts calls as they arrive, and a call arrives a little after its
slot begins: the connection, the sender thread's turn, the network. Calls that
leave exactly a minute apart per ``limit`` can then land ``limit + 1`` in one
minute (the three-worker test once saw 571 at 570), so ``limiter_for`` paces over
the minute plus ``ARRIVAL_SPREAD_SECONDS``, at a cost of under 2 % of the rate.

Relied on: the machines' clocks agree to well within a slot (NTP), and the cache
keeps a slot's key until the slot is over (one that evicts it early lets two
callers have that slot).

``delivery.deliver`` takes its slot after claiming the record, right before the
call. Taking it before the claim would waste the slot whenever another sender
wins the claim, as most do when several workers drain one backlog. The wait
after claiming is short: each sender holds at most one slot, so it waits one slot
(0.16 s at 380 a minute) per sender ahead of it, and the shortest lease, 30 s,
covers about 190 senders waiting at once. Overrunning the lease is safe anyway:
another sender may send the record as well, FirstPromoter answers 409 to the
known ``event_id``, and the record is tracked once.
"""

from __future__ import annotations

import functools
import math
import random
import sys
import time

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.db import DatabaseCache
from django.db import DatabaseError

from django_firstpromoter.conf import Config
from django_firstpromoter.models import RateLimitSlot

KEY_PREFIX = "firstpromoter:ratelimit:"
# Slots read at once when looking for a free one: more than senders usually wait.
LOOKAHEAD = 64
# How long a slot's key outlives the slot: the database cache rounds expiry down
# to the second, and a clock a little behind must still find the slot taken.
KEY_GRACE_SECONDS = 5
MINUTE = 60.0
# How much later than its slot a call may reach FirstPromoter and still be counted
# in the minute the slot was paced for.
ARRIVAL_SPREAD_SECONDS = 1.0
# Rows the slot table may hold before an ``add`` culls the expired ones: a few minutes
# of slots at FirstPromoter's limit, so that culls are rare and the ``COUNT(*)`` every
# ``add`` makes stays cheap.
SLOT_TABLE_MAX_ENTRIES = 1000
# Past the expired rows, a cull drops 1/CULL_FREQUENCY of the rest, rounded down:
# with more than any table holds, that is none, so no live slot is ever dropped.
SLOT_TABLE_CULL_FREQUENCY = sys.maxsize
# Free slots whose ``add`` may fail in one ``acquire`` before it gives up, and the
# longest pause after the first such failure (twice that after the second, and so
# on): SQLite refuses a write now and then when connections write at once ("database
# is locked", which the database cache reports as the slot taken), and a pause lets
# them fall out of step. A store that still refuses after about 0.3 s is broken.
REFUSALS_TOLERATED = 5
REFUSAL_PAUSE_SECONDS = 0.02


class SlotRefused(DatabaseError):
    """The slot store would not record a slot that nobody holds.

    A ``DatabaseError`` because senders already treat one as the shared store
    being unavailable: the worker logs it and the record, unsent, is due again
    once its lease ends.
    """


class SlotTable(DatabaseCache):
    """Django's database cache on ``RateLimitSlot``'s table, routed as that model, so
    that a router sends the slots where ``migrate`` made the table."""

    def __init__(self) -> None:
        options = {
            "MAX_ENTRIES": SLOT_TABLE_MAX_ENTRIES,
            "CULL_FREQUENCY": SLOT_TABLE_CULL_FREQUENCY,
        }
        super().__init__(RateLimitSlot._meta.db_table, {"OPTIONS": options})
        self.cache_model_class = RateLimitSlot


@functools.cache
def slot_table() -> SlotTable:
    """One for the process: it holds no connection, only where the slots are."""
    return SlotTable()


class RateLimiter:
    """At most ``limit`` calls in any ``window`` seconds, for all processes that share
    the ``cache_alias`` cache, or the database when it is None; ``None`` or 0 for no
    limit.

    ``window`` is FirstPromoter's minute; tests shorten it.
    """

    def __init__(
        self, limit: int | None, cache_alias: str | None = None, window: float = MINUTE
    ) -> None:
        if limit == 1 or (limit is not None and limit < 0):
            raise ValueError(f"limit must be 2 or more, or None or 0 for none; not {limit}")
        self.limit = limit or None
        self.cache_alias = cache_alias
        self.interval = window / (limit - 1) if limit else 0.0

    def acquire(self) -> None:
        """Return once this call has a slot, sleeping until its slot begins.

        Raises ``SlotRefused`` (or the store's own error) when the slots cannot be
        read or written: the call must neither go unlimited nor wait for ever.
        """
        if self.limit is None:
            return
        slot, refusals = self._slot_at(time.time()), 0
        while True:
            if not self._take(slot):
                lost: int | None = slot
            elif self._wait_for(slot):
                return
            else:
                lost = None
            slot, refused = self._first_free(max(slot + 1, self._slot_at(time.time())), lost)
            if refused:
                refusals += 1
                if refusals > REFUSALS_TOLERATED:
                    raise SlotRefused(
                        f"the rate limit's store refused to record {refusals} free slots; "
                        "is its database read-only or out of space?"
                    )
                # Writers that keep colliding (SQLite's) fall out of step.
                time.sleep(random.uniform(0, REFUSAL_PAUSE_SECONDS * refusals))

    def _cache(self) -> BaseCache:
        return slot_table() if self.cache_alias is None else caches[self.cache_alias]

    def _slot_at(self, moment: float) -> int:
        return math.floor(moment / self.interval)

    def _key(self, slot: int) -> str:
        return f"{KEY_PREFIX}{slot}"

    def _take(self, slot: int) -> bool:
        ends_in = (slot + 1) * self.interval - time.time()
        timeout = math.ceil(max(ends_in, 0.0)) + KEY_GRACE_SECONDS
        return bool(self._cache().add(self._key(slot), 1, timeout))

    def _wait_for(self, slot: int) -> bool:
        """Sleep until the slot begins; False if it was over before we got to go."""
        start = slot * self.interval
        if (delay := start - time.time()) > 0:
            time.sleep(delay)
        return time.time() < start + self.interval

    def _first_free(self, slot: int, lost: int | None = None) -> tuple[int, bool]:
        """The first slot from ``slot`` on that nobody has taken, as far as we can see;
        and whether ``lost``, a slot whose ``add`` just failed, is free all the same,
        which means the store refused to write it. ``lost`` is read with the first look.
        """
        cache = self._cache()
        refused = False
        while True:
            slots = range(slot, slot + LOOKAHEAD)
            keys = [self._key(s) for s in slots]
            if lost is not None:
                keys.append(self._key(lost))
            taken = cache.get_many(keys)
            if lost is not None:
                refused, lost = self._key(lost) not in taken, None
            for candidate in slots:
                if self._key(candidate) not in taken:
                    return candidate, refused
            slot += LOOKAHEAD


def limiter_for(config: Config) -> RateLimiter:
    """The limiter for the settings' ``RATE_LIMIT`` and ``RATE_LIMIT_CACHE``."""
    return RateLimiter(
        config.rate_limit, config.rate_limit_cache, window=MINUTE + ARRIVAL_SPREAD_SECONDS
    )
