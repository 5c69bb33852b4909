"""django-oscar's orders reported to FirstPromoter: add
``"django_firstpromoter.contrib.oscar"`` to ``INSTALLED_APPS`` next to Oscar's apps
(and ``"django_firstpromoter"``), with ``ReferralMiddleware``; no ``ORDER_MODEL`` and
no adapter. See docs/shop-frameworks.md.
"""
