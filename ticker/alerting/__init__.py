"""Alerting: from a poll's new items to messages delivered on the channels.

- ``routing``: which items go to which channels, and as how many messages (pure).
- ``messages``: the plain text of each message (pure).
- ``planner``: a poll's recorded items -> the outbox rows to queue (pure).
- ``sender``: drains the outbox through the notifier: pacing, breaker, retries.

Nothing is re-exported here, so importing the pure modules never loads the sender.
"""
