"""Reliability drills: the real ``ticker`` as a subprocess against local servers (``-m drill``)."""
