"""ticker: a breaking-news ticker monitor and alerter."""

__version__ = "0.1.0"
