"""Exceptions a callback raises to tell the hub more than 'it failed'."""

from __future__ import annotations


class ConfigurationError(Exception):
    """The plugin cannot start as configured: a missing id or secret, a malformed hub URL."""


class RetryableError(Exception):
    """A failure worth another attempt (a flaky network, a busy GPU): the hub runs the job
    again after a delay, up to its max attempts, instead of failing it at once.

    Subclass it, or raise it `from` the original error.
    """


class InvalidConfig(ValueError):
    """A job's config does not fit the plugin's `config_model`; the message names each problem.

    The job fails with kind `ConfigError` before the callback runs.
    """
