"""DNS proxying evidence: ServiceEntry auto-allocation and the addresses a pod resolved.

Facts: shared/research/istio-behaviours.md 3.5. Since Istio 1.25 istiod writes
``ServiceEntry.status.addresses[{host, value}]`` (PILOT_ENABLE_IP_AUTOALLOCATE);
the IPv4 pool is the Class E range 240.240.0.0/16.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from meshconform.wait import Decision, Done, Failed, Pending

Obj = Mapping[str, Any]

AUTO_ALLOCATE_V4 = ipaddress.ip_network("240.240.0.0/16")


def allocated_addresses(service_entry: Obj, host: str) -> list[str]:
    """The addresses istiod allocated to ``host`` (``status.addresses``), in order."""
    entries = (service_entry.get("status") or {}).get("addresses") or []
    return [
        str(e.get("value")) for e in entries if e.get("host") in (host, None) and e.get("value")
    ]


def in_auto_allocate_pool(address: str) -> bool:
    try:
        return ipaddress.ip_address(address) in AUTO_ALLOCATE_V4
    except ValueError:
        return False


def auto_allocated(host: str) -> Callable[[Obj | None], Decision[str]]:
    """A ``watch_until`` condition on the ServiceEntry: Done(the 240.240.x.x address)."""

    def condition(obj: Obj | None) -> Decision[str]:
        if obj is None:
            return Pending("ServiceEntry does not exist yet")
        spec = obj.get("spec") or {}
        if spec.get("addresses"):
            return Failed(
                f"the ServiceEntry has spec.addresses {spec['addresses']}: "
                "istiod allocates only for entries without addresses"
            )
        values = allocated_addresses(obj, host)
        v4 = [v for v in values if in_auto_allocate_pool(v)]
        if v4:
            return Done(v4[0], f"status.addresses for {host}: {values}")
        return Pending(f"status.addresses for {host}: {values or 'none yet'}")

    return condition
