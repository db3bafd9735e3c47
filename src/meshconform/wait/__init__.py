"""Waiting on a cluster: the polling and watch loops, their timeouts, and the
conditions the live checks wait for (built on :mod:`meshconform.observe`)."""
