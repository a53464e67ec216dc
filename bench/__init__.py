"""The benchmark suite of ticker (issue 5): the real pipeline measured beside its limit.

``python -m bench`` starts a fixture server in its own process, measures the limit (one aiohttp
session plus parsel, nothing else) and the real pipeline on the same pages, and prints a table
of CPU per poll by mode, the ratio to the limit, throughput, memory, latency, the database-growth
check and the start-up figures; ``--json PATH`` writes the same figures as JSON. See
``python -m bench --help``.
"""
