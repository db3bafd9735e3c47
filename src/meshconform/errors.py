"""Errors that reach the user as one clear line, never as a traceback."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input or a missing prerequisite: says what is wrong and how to fix it.

    The CLI and the pytest plugin print ``str(error)`` alone and exit non-zero
    before any cluster is created.
    """

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"meshconform: {problem}. {fix}")


class ToolMissingError(UsageError):
    """A binary the chosen tier needs cannot be found or provisioned."""


class ProvisioningError(Exception):
    """A component (cluster, Istio, product) failed to come up; the message names it and why."""


class IstioctlError(RuntimeError):
    """istioctl exited non-zero, timed out or cannot run; the message has the command and
    istioctl's own words. The CLI prints it as one line; the report makes it an ERROR row."""
