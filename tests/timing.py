"""How long a test waits for something that should happen before it gives up.

Tests assert behaviour, not speed: a wait is a bound for failures, never a speed target, so
it is generous enough for a loaded machine (two cores, other suites running at once). Speed
is measured in bench/. A test that proves something happens "promptly" instead makes the
alternative take far longer than this (a backoff of an hour, say), so the two cannot be
confused however slow the machine is.
"""

PATIENCE = 30.0
"""Seconds any single wait may take before the test fails."""
