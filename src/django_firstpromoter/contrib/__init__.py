"""Integrations with what shops already run: shop frameworks (``contrib.oscar``, an
app installed next to the framework's apps that reports its orders with no adapter
for the shop to write) and queues (``contrib.celery``, the ``ENQUEUE`` hook and its
tasks)."""
