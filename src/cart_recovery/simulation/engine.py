"""The ``simulate`` engine: the service's intake, waiter and sender carried out on a virtual
clock over a stream of events, with the state a simulation needs and nothing else.

Intake calls the same pure core as the service (``apply_event``, ``next_wake``), and every
wake-up is the service's own plan (``domain.wakeup.plan_wakeup``: the decision, the gates, the
tier, the deferral and skip records, do-not-disturb and one email per address per batch),
applied here to the engine's state instead of a store and a mailer. Wake-ups fire exactly as
``Replay`` over a ``MemoryStore`` fires them: at one instant, inputs before wake-ups; wake-ups
in ``(due, cart_id)`` order, in the timer loop's batches (``run_due``). Its report is the one
the service-based replay gives (tests/integration/simulate_reference.py), byte for byte; a
differential test holds the two to that. What it leaves out cannot change a report:

* no email is composed or handed to a mailer: a ``Send`` plan is reported sent. Nothing in
  composing can fail for a simulation's fixed sender, links and locale once the plan has
  found the address mailable.
* no audit rows, event log, versions or per-address cart index.
* a cart that is bought or closed can never do anything again (``apply_event`` ignores every
  later event but a checkout, which changes no report): only its id is kept.
* sent reminders are kept per address for the do-not-disturb window only; the clock never
  runs backwards, so an older one can never block a send again.
* the simulation's input has no unsubscribe (cart events only), so no address is ever
  unsubscribed.

Input is a stream of validated events in time order (``occurred_at`` never decreasing);
``NotInOrder`` is raised as soon as one goes back in time, and the caller sorts instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal

from cart_recovery.domain.address import normalise_email
from cart_recovery.domain.cart import apply_event
from cart_recovery.domain.decide import Next, next_on_timeline
from cart_recovery.domain.model import Cart, CartEvent, Outcome, SendRecord, Status
from cart_recovery.domain.rules import Rules, SizeTier, zone_named
from cart_recovery.domain.wakeup import (
    Close,
    Defer,
    Later,
    Send,
    Skip,
    Wait,
    plan_wakeup,
    tier_name,
)
from cart_recovery.simulation.events_file import NotInOrder
from cart_recovery.simulation.outcomes import Outcomes
from cart_recovery.simulation.timer_queue import TimerQueue

OPEN = Status.OPEN
SENT = Outcome.SENT
BATCH = 1000  # wake-ups taken from the queue at a time, as the replay's timer loop does


def hold_zones(rules: Rules, events: Iterable[CartEvent] = ()) -> dict[str, object]:
    """The store's zone and the shoppers' zones, held for a run: zoneinfo keeps only a few
    zones it is not given back, and the quiet-hours gate looks one up on every send."""
    zones: dict[str, object] = {rules.store_timezone: zone_named(rules.store_timezone)}
    for event in events:
        if event.timezone is not None and event.timezone not in zones:
            zones[event.timezone] = zone_named(event.timezone)
    return zones


@dataclass(frozen=True)
class RememberedTiers(Rules):
    """The same rules, each total's size tier looked up once (``tier_for`` is a pure function
    of the total; a month of carts has few distinct totals). Remembered by the total's text:
    hashing a new ``Decimal`` costs about four times as much as writing it out, and each
    event that carries a total brings a new one."""

    seen: dict[str, SizeTier] = field(default_factory=dict, init=False, compare=False, repr=False)

    @classmethod
    def of(cls, rules: Rules) -> RememberedTiers:
        return cls(**{f.name: getattr(rules, f.name) for f in fields(Rules)})

    def tier_for(self, total: Decimal) -> SizeTier:
        key = str(total)  # equal texts, equal values: the same tier
        tier = self.seen.get(key)
        if tier is None:
            tier = super().tier_for(total)
            if len(self.seen) < 100_000:
                self.seen[key] = tier
        return tier


class _Cart:
    """One open cart: its row, its send history by step, the event ids it has taken, and the
    sequence number of its one pending timer (0: none). ``timeline`` and ``tier`` are worked
    out once per state of the cart (None: not yet, or the row or its sends changed since)."""

    __slots__ = ("cart", "seen", "sends", "tier", "timeline", "timer")

    def __init__(self, cart: Cart) -> None:
        self.cart = cart
        self.sends: list[SendRecord] = []  # by step, as MemoryStore.load gives them
        self.seen: set[str] = set()
        self.timer = 0
        self.timeline: Next | None = None  # next_on_timeline(cart, sends, rules)
        self.tier: str | None = None  # tier_name(cart, rules)

    def tier_name(self, rules: Rules) -> str:
        tier = self.tier
        if tier is None:
            tier = self.tier = tier_name(self.cart, rules)
        return tier

    def record(self, record: SendRecord) -> None:
        """``record`` in place of its step's record (one a step), the list kept by step."""
        sends = self.sends
        step = record.step
        for i, s in enumerate(sends):
            if s.step == step:
                sends[i] = record
                return
            if s.step > step:
                sends.insert(i, record)
                return
        sends.append(record)


class Engine:
    """One simulation run over ``rules`` (see the module docstring)."""

    def __init__(
        self,
        rules: Rules,
        outcomes: Outcomes,
        *,
        tick: Callable[[datetime], None] | None = None,
    ) -> None:
        self.rules = RememberedTiers.of(rules)
        self.out = outcomes
        self.tick = tick
        self.open: dict[str, _Cart] = {}
        self.finished: set[str] = set()
        self.events = 0
        self.rejected = 0  # the service's ingest refuses none of a replay's events (see run)
        # (due, cart id, timer sequence, the cart's state): the state is there so that a
        # popped timer is checked without looking the cart up (never compared: the sequence
        # numbers differ). A cart's timer is current while ``state.timer`` is its sequence.
        self._timers = TimerQueue()
        self._seq = itertools.count(1)
        self._sent: dict[str, list[SendRecord]] = {}  # address → sent reminders, oldest first
        self._sent_fifo: list[tuple[datetime, str]] = []
        self._fifo_head = 0

    @property
    def carts(self) -> int:
        return len(self.open) + len(self.finished)

    # ---- the replay loop (Replay.run_until) ------------------------------------------------
    def run(self, events: Iterable[CartEvent], until: datetime | None) -> None:
        """Every input and wake-up up to ``until`` (default: the last event plus the maximum
        age and the close-out). ``events`` must come in time order: NotInOrder otherwise."""
        stream = iter(events)
        nxt = next(stream, None)
        if nxt is None:
            return
        self.events = 1
        last_at = nxt.occurred_at
        clock = nxt.occurred_at
        end = until
        rules = self.rules
        timers = self._timers
        first_timer = timers.first
        first_live = timers.first_live
        ingest = self.ingest
        tick = self.tick
        while True:
            top = first_live()  # replaced and cancelled timers at the top dropped
            # The earliest input or timer; with inputs left and no --until, the end is at
            # least the next input, so only a stop time can cut the run short.
            if nxt is not None:
                first = nxt.occurred_at
                if top is not None and top[0] < first:
                    first = top[0]
            elif top is not None:
                if end is None:
                    end = last_at + rules.max_age + rules.close_out
                first = top[0]
            else:
                break
            if end is not None and first > end:
                break
            now = first if first > clock else clock
            clock = now
            while nxt is not None and nxt.occurred_at <= now:
                # Applied at ``now`` >= its ``occurred_at``: the service's MAX_FUTURE check
                # (an event more than a day ahead of now) can never refuse it here.
                ingest(nxt, now)
                nxt = next(stream, None)
                if nxt is not None:
                    self.events += 1
                    at = nxt.occurred_at
                    if at < last_at:
                        raise NotInOrder(
                            f"event {nxt.event_id} of cart {nxt.cart_id} goes back in time"
                        )
                    last_at = at
                    if (
                        at > now
                        and tick is None
                        and ((top := first_timer()) is None or top[0] > at)
                        and (end is None or at <= end)
                    ):
                        # The next input comes before every timer (even a replaced one): what
                        # the next turn of the loop would do is apply it at its own time.
                        now = clock = at
            if (top := first_timer()) is not None and top[0] <= now:
                self.run_due(now)
            if tick is not None:
                tick(now)
        if nxt is not None:  # inputs after --until: read (validated, counted), never applied
            for event in stream:
                self.events += 1
                if event.occurred_at < last_at:
                    raise NotInOrder(f"event {event.event_id} of cart {event.cart_id}")
                last_at = event.occurred_at

    def run_due(self, now: datetime) -> None:
        """Every wake-up due at ``now``, as ``TimerLoop.run_due`` fires them through
        ``Service.wake_many``: batches of BATCH in ``(due, cart_id)`` order; within a batch an
        address is mailed once, and a later cart of that address that has a step due waits for
        the next batch (so its gates see the first send). A batch's sends are reported after
        its other happenings; the report keeps them in separate lists, in the same order."""
        timers = self._timers
        take_due = timers.take_due
        wake = self.wake
        while batch := take_due(now, BATCH):
            # A fired wake-up replaces or cancels its cart's timer, so of what the timer loop
            # puts back on the queue only the carts left for the next batch stay due.
            mailing: set[str] = set()
            for entry in batch:
                if not wake(entry[3], now, mailing):
                    timers.push(entry)

    def _set_timer(self, state: _Cart, at: datetime | None) -> None:
        if at is None:
            state.timer = 0
            return
        seq = next(self._seq)
        state.timer = seq
        self._timers.push((at, state.cart.cart_id, seq, state))

    def _schedule(self, state: _Cart) -> None:
        """The cart's timer at its next wake (``next_wake``), its timeline kept for then."""
        cart = state.cart
        if cart.status is not OPEN:
            state.timeline = None
            self._set_timer(state, None)
            return
        timeline = state.timeline = next_on_timeline(cart, state.sends, self.rules)
        self._set_timer(state, timeline.at)

    def _finish(self, cart_id: str) -> None:
        state = self.open.pop(cart_id, None)
        if state is not None:
            state.timer = 0  # a finished cart's timers are all stale
        self.finished.add(cart_id)

    # ---- intake (Service.ingest) -----------------------------------------------------------
    def ingest(self, event: CartEvent, now: datetime) -> None:
        cart_id = event.cart_id
        if cart_id in self.finished:
            return  # a redelivery, or an event a bought or closed cart ignores
        state = self.open.get(cart_id)
        if state is None:
            applied = apply_event(None, event, now)
            assert applied.cart is not None
            state = _Cart(applied.cart)
            self.open[cart_id] = state
        else:
            if event.event_id in state.seen:
                return
            applied = apply_event(state.cart, event, now)
        state.seen.add(event.event_id)
        cart = applied.cart
        if cart is None:
            return
        if cart is not state.cart:
            state.cart = cart
            state.timeline = state.tier = None
        if applied.cancel:
            self._set_timer(state, None)
        elif applied.reschedule:
            self._schedule(state)
        if cart.status is not OPEN:
            self._finish(cart_id)

    # ---- the waiter and the sender (Service.wake_many) -----------------------------------
    def wake(self, state: _Cart, now: datetime, mailing: set[str]) -> bool:
        """One wake-up, its plan applied to the engine's state; False when it must wait for the
        next batch (its address is being mailed in this one: ``mailing``)."""
        cart = state.cart
        rules = self.rules
        plan = plan_wakeup(
            cart, state.sends, rules, now, self, mailing=mailing, timeline=state.timeline
        )
        if isinstance(plan, Send):  # the plans by how often a simulation makes them
            record = SendRecord(
                cart_id=cart.cart_id,
                step=plan.step,
                outcome=SENT,
                at=now,
                recipient=cart.email,
            )
            state.record(record)
            key = normalise_email(cart.email or "")
            self._sent.setdefault(key, []).append(record)
            self._sent_fifo.append((now, key))
            mailing.add(plan.batch_key)
            self._schedule(state)
            self.out.sent(cart.cart_id, plan.step, now, state.tier_name(rules))
        elif isinstance(plan, Close):
            state.timer = 0
            self.out.closed_as(cart.cart_id, str(plan.reason), now, state.tier_name(rules))
            self._finish(cart.cart_id)
        elif isinstance(plan, Defer):
            # A deferral's record is not a done step, and it takes the place of one that was
            # not done either (the step is due): the timeline is unchanged.
            state.record(plan.record)
            self._set_timer(state, plan.until)
            self.out.deferred_to(
                cart.cart_id, plan.step, plan.due, plan.until, state.tier_name(rules)
            )
        elif isinstance(plan, Skip):
            state.record(plan.record)
            self._schedule(state)
            self.out.skipped(cart.cart_id, plan.step, plan.reason, state.tier_name(rules))
        elif isinstance(plan, Wait):
            self._set_timer(state, plan.wake_at)
        elif isinstance(plan, Later):
            return False
        else:  # HandOff and Recheck: no hand-off here, and no claim is ever held
            raise AssertionError(f"a simulation never plans {plan!r}")
        return True

    # ---- the facts of an address (AddressFacts) --------------------------------------------
    def is_unsubscribed(self, email: str) -> bool:
        return False  # the simulation's input has no unsubscribe

    def sent_to(self, email: str, since: datetime) -> list[SendRecord]:
        """MemoryStore.sent_to: reminders sent to ``email`` at ``since`` or later. Older ones
        are dropped here for good (``since`` never goes back)."""
        fifo = self._sent_fifo
        head = self._fifo_head
        sent = self._sent
        while head < len(fifo) and fifo[head][0] < since:
            key = fifo[head][1]
            records = sent[key]
            del records[0]
            if not records:
                del sent[key]
            head += 1
        if head > 65536 and head * 2 > len(fifo):
            del fifo[:head]
            head = 0
        self._fifo_head = head
        # What is left of an address's list is at ``since`` or later: the FIFO dropped the rest.
        recent = sent.get(normalise_email(email))
        return [] if recent is None else recent.copy()
