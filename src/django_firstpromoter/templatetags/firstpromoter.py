"""``{% load firstpromoter %}``: FirstPromoter's fpr.js snippet, for referral tracking in the
browser."""

from __future__ import annotations

from django import template
from django.utils.html import escapejs
from django.utils.safestring import SafeString, mark_safe

from django_firstpromoter.conf import raw_settings

register = template.Library()

# FirstPromoter's documented snippet, around the CID.
BEFORE_CID = (
    "<script>(function(w){w.fpr=w.fpr||function(){w.fpr.q = w.fpr.q||[];"
    "w.fpr.q[arguments[0]=='set'?'unshift':'push'](arguments);};})(window);"
    'fpr("init", {cid:"'
)
AFTER_CID = (
    '"}); fpr("click");</script><script src="https://cdn.firstpromoter.com/fpr.js" async></script>'
)


@register.simple_tag
def firstpromoter_script() -> SafeString:
    """fpr.js with ``FIRSTPROMOTER["CID"]``, or nothing while it is unset.

    The unchecked settings are read, not ``get_config()``: a page must not fail
    because the API key, which only the server side needs, is missing.
    """
    cid = raw_settings()["CID"]
    if not cid:
        return mark_safe("")
    # escapejs writes quotes, backslashes, "<", ">" and line breaks as \uXXXX, so
    # the CID stays one JS string inside the script, whatever it holds.
    return mark_safe(BEFORE_CID + escapejs(str(cid)) + AFTER_CID)
