"""The test shop's Celery app, made as a shop makes its ``proj/celery.py``
(README, "Queues: Tasks, Celery, RQ"): its settings are Django's ``CELERY_*``
ones (tests/settings.py)."""

from celery import Celery

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
