"""Integrations with shop frameworks: each an app of its own, installed next to the
framework's apps, that reports its orders with no adapter for the shop to write."""
