"""The signal a shop sends when an order is paid, and the ones we send back."""

from django.dispatch import Signal

#: Sent by the host when it confirms payment: ``order_paid.send(sender=Order, order=order)``.
order_paid = Signal()

#: Sent once a sale's fate is known, with ``sale=``; receivers' errors are logged, not raised.
sale_tracked = Signal()
sale_not_referral = Signal()
sale_failed = Signal()

#: Sent after the commit of a FirstPromoter webhook that changed a reward's status or
#: paid state, with ``reward=``, ``previous_status=`` and ``previous_paid=``;
#: receivers' errors are logged, not raised.
reward_updated = Signal()
