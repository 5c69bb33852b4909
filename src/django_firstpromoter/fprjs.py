"""What FirstPromoter's browser script, fpr.js, names: its cookies and the query
parameters of a referral link. Plain constants, free of Django: the sandbox, which
imports no Django, reads referral links by the same list as ``referral``."""

import datetime

TID_COOKIES = ("_fprom_tid", "_fprom_track")
"""fpr.js's visit id, under its current name first: accounts made before April 2021
still get ``_fprom_track``."""
REF_COOKIE = "_fprom_ref"
"""fpr.js's name for the promoter's referral id; the middleware keeps a referral
link's under the same name, so a shop behaves the same with fpr.js or without it."""
LINK_PARAMETERS = ("fpr", "via", "fp_ref", "deal", "ref", "_from", "_by", "_go")
"""The query parameters FirstPromoter's referral links carry, in its own order."""
COOKIE_MAX_AGE = int(datetime.timedelta(days=60).total_seconds())
"""fpr.js's default cookie lifetime."""
