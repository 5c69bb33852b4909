"""The signals a shop sends when an order is paid or refunded or a subscription ends,
and the ones we send back."""

from django.dispatch import Signal

#: Sent by the host when it confirms payment: ``order_paid.send(sender=Order, order=order)``.
order_paid = Signal()

#: Sent by the host when it gives money back: ``order_refunded.send(sender=Order, order=order)``;
#: ``REFUND_FROM_ORDER`` says what the refund was.
order_refunded = Signal()

#: Sent by the host's billing code when a subscription ends:
#: ``subscription_cancelled.send(sender=..., email=..., uid=...)``.
subscription_cancelled = Signal()

#: Sent after the commit that wrote a new record, with ``sale=``, ``refund=``,
#: ``cancellation=`` or ``signup=`` (the record as written): for code that wants to
#: know a record exists, a shop's own queue say. Receivers' errors are logged, not
#: raised; a repeat of a known ``event_id`` writes nothing and sends nothing.
recorded = Signal()

#: Sent once a record's fate is known, with ``sale=``, ``refund=``, ``cancellation=`` or
#: ``signup=``; receivers' errors are logged, not raised. ``*_duplicate``: FirstPromoter
#: answered 409 to the first attempt, so the event id was someone else's.
sale_tracked = Signal()
sale_not_referral = Signal()
sale_failed = Signal()
sale_duplicate = Signal()
refund_tracked = Signal()
refund_not_referral = Signal()
refund_failed = Signal()
refund_duplicate = Signal()
cancellation_tracked = Signal()
cancellation_not_referral = Signal()
cancellation_failed = Signal()
cancellation_duplicate = Signal()
signup_tracked = Signal()
signup_not_referral = Signal()
signup_failed = Signal()
signup_duplicate = Signal()

#: Sent after the commit of a FirstPromoter webhook that changed a reward's status or
#: paid state, with ``reward=``, ``previous_status=`` and ``previous_paid=``;
#: receivers' errors are logged, not raised.
reward_updated = Signal()
