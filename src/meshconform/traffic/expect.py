"""Named expectations over a :class:`~.result.TrafficResult`, the way Cilium names them.

An evaluator says what it expects by name: ``Expect.blocked_by_registry()``, not a
closure of its own. The name is what evidence and reports show: "expected
blocked-by-registry, got HTTP 200 from ...". Each expectation reads the one
classification (:class:`~.result.Kind`), so it judges host and pod results alike.
Facts behind each: shared/research/istio-behaviours.md 3.4 (egress), 3.6 (gateway,
mTLS, authorization).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from meshconform.traffic.result import UNOBSERVABLE, Kind, TrafficResult

#: Envoy's body for an L7 AuthorizationPolicy DENY (RBAC filter)
RBAC_DENIED_BODY = "RBAC: access denied"

#: why a result misses an expectation: None when it meets it, else a detail ("" for none)
Mismatch = Callable[[TrafficResult], str | None]


@dataclass(frozen=True)
class Expectation:
    """A named predicate over one result, with the reason it was not met."""

    name: str
    mismatch: Mismatch

    def met(self, result: TrafficResult) -> bool:
        return self.mismatch(result) is None

    def judge(self, result: TrafficResult) -> str:
        """``ok: <name>`` or ``expected <name>, got <what> from <where>[: detail]``."""
        why = self.mismatch(result)
        if why is None:
            return f"ok: {self.name}"
        detail = f": {why}" if why else ""
        return f"expected {self.name}, got {result.short} from {result.target}{detail}"

    def __or__(self, other: Expectation) -> Expectation:
        def either(result: TrafficResult) -> str | None:
            mine = self.mismatch(result)
            return None if mine is None else other.mismatch(result)

        return Expectation(f"{self.name} or {other.name}", either)

    def __str__(self) -> str:
        return self.name


def _when(name: str, accepts: Callable[[TrafficResult], bool]) -> Expectation:
    return Expectation(name, lambda result: None if accepts(result) else "")


def redirect_matches(location: str | None, host: str, path: str) -> tuple[bool, str]:
    """Is ``location`` ``https://<host>[:port]<path>``? Returns (ok, why)."""
    if not location:
        return False, "no Location header"
    parts = urlsplit(location)
    if parts.scheme != "https":
        return False, f"Location scheme is {parts.scheme!r}, not 'https'"
    if (parts.hostname or "").lower() != host.lower():
        return False, f"Location host is {parts.hostname!r}, not {host!r}"
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    if target != path:
        return False, f"Location path is {target!r}, not {path!r}"
    return True, "Location is https for the same host and path"


class Expect:
    """The suite's named expectations. Each returns an :class:`Expectation`."""

    @staticmethod
    def ok(status: int | None = None) -> Expectation:
        """``ok``: a 2xx answer (``ok(200)``: exactly that status)."""
        if status is None:
            return _when("ok", lambda r: r.ok)
        return _when(f"ok({status})", lambda r: r.kind is Kind.HTTP_STATUS and r.status == status)

    @staticmethod
    def status(code: int) -> Expectation:
        """``status(N)``: an HTTP answer with exactly this status (404 for an unclaimed host)."""
        return _when(f"status({code})", lambda r: r.kind.answered and r.status == code)

    @staticmethod
    def routed() -> Expectation:
        """``routed``: an HTTP answer other than 404, Envoy's "no route" (a 503 from a backend
        that is not up still shows the route is there)."""
        return _when("routed", lambda r: r.kind is Kind.HTTP_STATUS and r.status != 404)

    @staticmethod
    def answered() -> Expectation:
        """``answered``: any HTTP answer; over TLS that means the handshake completed and the
        certificate verified (the host transport checks it, curl without ``-k`` too)."""
        return _when("answered", lambda r: r.kind.answered)

    @staticmethod
    def redirect_to_https(
        code: int, host: str, path: str, https_port: int | None = None
    ) -> Expectation:
        """``redirect-to-https(N)``: status ``code`` with Location ``https://host[:port]path``;
        ``https_port`` also requires that port (absent = the default 443)."""

        def mismatch(r: TrafficResult) -> str | None:
            if r.status != code:
                return ""
            ok, why = redirect_matches(r.location, host, path)
            if not ok:
                return why
            port = urlsplit(r.location).port if r.location else None
            if https_port is not None and port not in (None, https_port):
                return f"Location port is {port}, not {https_port}"
            return None

        return Expectation(f"redirect-to-https({code})", mismatch)

    @staticmethod
    def blocked_by_registry() -> Expectation:
        """``blocked-by-registry``: REGISTRY_ONLY refused an unregistered destination. Plain
        HTTP: 502 from the sidecar's ``block_all`` virtual host, or a reset where the port
        has no HTTP listener. TLS: BlackHoleCluster closes the connection, so the handshake
        fails (curl 35) or the connection is reset; a 502 over TLS came from a server the
        request reached, so it does not count."""

        def accepts(r: TrafficResult) -> bool:
            if r.kind is Kind.TCP_RESET:
                return True
            if r.tls:
                return r.kind is Kind.TLS_HANDSHAKE_FAILED
            return r.kind is Kind.HTTP_STATUS and r.status == 502

        return _when("blocked-by-registry", accepts)

    @staticmethod
    def tls_refused() -> Expectation:
        """``tls-refused``: the server did not complete a handshake for this name (Envoy resets
        a handshake whose SNI matches no filter chain)."""
        return _when("tls-refused", lambda r: r.kind in (Kind.TLS_HANDSHAKE_FAILED, Kind.TCP_RESET))

    @staticmethod
    def rejected_plaintext() -> Expectation:
        """``rejected-plaintext``: STRICT mTLS against a plaintext client: a reset or an empty
        reply (curl 56/52), never an HTTP answer."""
        return _when("rejected-plaintext", lambda r: r.kind is Kind.TCP_RESET)

    @staticmethod
    def denied_by_policy() -> Expectation:
        """``denied-by-policy``: an L7 AuthorizationPolicy DENY: 403 with Envoy's body
        ``RBAC: access denied`` (a 403 from the app itself does not count)."""

        def mismatch(r: TrafficResult) -> str | None:
            if r.kind is Kind.HTTP_STATUS and r.status == 403:
                return None if RBAC_DENIED_BODY in r.body else f"no {RBAC_DENIED_BODY!r} body"
            return ""

        return Expectation("denied-by-policy", mismatch)

    @staticmethod
    def denied_by_policy_l4() -> Expectation:
        """``denied-by-policy-l4``: a DENY enforced at L4 (ztunnel): the connection is reset
        or closed without an answer."""
        return _when("denied-by-policy-l4", lambda r: r.kind is Kind.TCP_RESET)

    @staticmethod
    def refused() -> Expectation:
        """``refused``: nothing listens at the address (curl 7)."""
        return _when("refused", lambda r: r.kind is Kind.TCP_REFUSED)

    @staticmethod
    def dns_failed() -> Expectation:
        """``dns-failed``: the name did not resolve (curl 6, or a lookup that timed out)."""
        return _when("dns-failed", lambda r: r.kind is Kind.DNS_FAILED)

    @staticmethod
    def resolved_to(address: str) -> Expectation:
        """``resolved-to(ADDR)``: the first address the client tried is ``address`` (needs
        ``curl -v`` evidence, which the pod transport collects)."""

        def mismatch(r: TrafficResult) -> str | None:
            if r.tried and r.tried[0] == address:
                return None
            return f"tried {list(r.tried) or 'nothing'}"

        return Expectation(f"resolved-to({address})", mismatch)

    @staticmethod
    def upstream_reset_text(text: str) -> Expectation:
        """``upstream-reset``: Envoy's 503 whose body carries ``text`` (e.g. "upstream connect
        error or disconnect/reset before headers")."""
        return _when(
            "upstream-reset",
            lambda r: r.kind is Kind.HTTP_STATUS and r.status == 503 and text in r.body,
        )

    @staticmethod
    def observed() -> Expectation:
        """``observed``: any result that says something about the target (not refused, timed
        out, unresolved or unreachable). The default documented failure of an evaluator that
        has no more specific one."""
        return _when("observed", lambda r: r.kind not in UNOBSERVABLE)
