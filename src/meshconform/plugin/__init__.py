"""The meshconform pytest plugin (registered through the ``pytest11`` entry point).

This module only wires pytest's hooks to the modules that do the work, one job each:

- :mod:`~meshconform.plugin.options`: the command-line options, turned into
  :class:`~meshconform.options.RunOptions` (and a probed gateway) in ``config.stash``;
- :mod:`~meshconform.plugin.matrix`: the matrix (modes x Istio versions), the tiers kept,
  the central skips, xdist groups per mode, and the istioctl preflight;
- :mod:`~meshconform.plugin.results`: each check's verdict and the report;
- :mod:`~meshconform.plugin.fixtures`: the fixtures every tier shares (``claim``, ``mode``...);
- ``plugin.static``, ``plugin.dataplane``, ``plugin.live``, ``plugin.products``: each
  tier's fixtures (the live tier also starts and ends the session's clusters).

State is passed in ``config.stash`` under keys the owning module defines, never by
looking a module up at run time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Generator
from typing import Any

import pytest

from meshconform.errors import UsageError
from meshconform.plugin import matrix, results
from meshconform.plugin.options import (
    MARKERS,
    OPTIONS_KEY,
    PROBE_KEY,
    add_options,
    is_controller,
    options_from,
    probe_target_from,
)
from meshconform.setups import install_sigterm_interrupt

RESTORE_SIGTERM_KEY = pytest.StashKey[Callable[[], None]]()

#: fixture modules (shared, then one per tier), registered as plugins so pytest sees them
FIXTURE_PLUGINS = (
    "meshconform.plugin.fixtures",
    "meshconform.plugin.static",
    "meshconform.plugin.dataplane",
    "meshconform.plugin.live",
    "meshconform.plugin.products",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def _register_fixture_plugins(config: pytest.Config) -> None:
    for name in FIXTURE_PLUGINS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as missing:  # a tier still being written
            if missing.name != name:
                raise
            continue
        if not config.pluginmanager.is_registered(module):
            config.pluginmanager.register(module, name)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    try:
        options = options_from(config)
    except UsageError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[OPTIONS_KEY] = options
    # SIGTERM (a cancelled CI job) ends the run like Ctrl-C, so clean-up runs
    config.stash[RESTORE_SIGTERM_KEY] = install_sigterm_interrupt()
    results.start(config)
    _register_fixture_plugins(config)
    explicit = bool(config.getoption("tier") or config.getoption("report_dir"))
    if explicit and is_controller(config) and not getattr(config.option, "xmlpath", None):
        config.option.xmlpath = str(options.report_dir / "junit.xml")
    try:
        probe = probe_target_from(config)
    except UsageError as error:
        raise pytest.UsageError(str(error)) from None
    if probe is not None:
        config.stash[PROBE_KEY] = probe
        return  # probing a reachable gateway needs no cluster
    if options.live and not config.option.collectonly:
        # --collect-only (and `meshconform plan`) must list live checks without Docker
        from meshconform.plugin import live  # noqa: PLC0415 - only the live tier needs it

        try:
            live.live_session_start(config, options)
        except UsageError as error:
            raise pytest.UsageError(str(error)) from None


def pytest_unconfigure(config: pytest.Config) -> None:
    restore = config.stash.get(RESTORE_SIGTERM_KEY, None)
    if restore is not None:
        restore()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    matrix.parametrize(metafunc, metafunc.config.stash[OPTIONS_KEY])


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept = matrix.select(config, items)
    if is_controller(config) and not config.option.collectonly:
        matrix.istioctl_preflight(config.stash[OPTIONS_KEY], kept)


def pytest_collection_finish(session: pytest.Session) -> None:
    options = session.config.stash.get(OPTIONS_KEY, None)
    if options is not None and options.live and not session.config.option.collectonly:
        from meshconform.plugin import live  # noqa: PLC0415 - only the live tier needs it

        live.plan_releases(session.config, session.items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    """After a mode's last live check (and its fixtures' teardown): release its cluster."""
    try:
        return (yield)
    finally:
        options = item.config.stash.get(OPTIONS_KEY, None)
        if options is not None and options.live:
            from meshconform.plugin import live  # noqa: PLC0415 - only the live tier needs it

            live.release_after(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Record every traffic convergence loop the check runs (traffic.converge.Flap)."""
    return (yield from results.record_flaps(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    return results.annotate(item, call, report)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # trylast: pytest's own sessionfinish (runner) tears down the session fixtures
    # that are still set up after -x or Ctrl-C (the shared namespaces of
    # suites/conftest.py); that must happen before the clusters are deleted and
    # their clients closed, or every teardown fails against a dead API server.
    config = session.config
    if not is_controller(config) or OPTIONS_KEY not in config.stash:
        return
    options = config.stash[OPTIONS_KEY]
    try:
        results.write(config)
    finally:
        if options.live and not config.option.collectonly:
            from meshconform.plugin import live  # noqa: PLC0415 - only the live tier needs it

            live.live_session_finish(config)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if OPTIONS_KEY in config.stash:
        results.summarize(terminalreporter, config)
