"""``make bench``: what the app costs a checkout, how fast it drains a backlog, and
how that compares with the usual inline call. It measures and reports; it asserts
nothing about timings. See ``python -m bench --help``."""
