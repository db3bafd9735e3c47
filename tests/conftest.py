"""Shared fixtures for meshconform's own tests."""

pytest_plugins = ["pytester"]
