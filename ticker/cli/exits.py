"""The exit codes of every command: 0 success, 1 runtime failure, 2 usage or configuration
error (130 after Ctrl-C)."""

from __future__ import annotations

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130
