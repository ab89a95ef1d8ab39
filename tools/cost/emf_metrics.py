"""How many custom metrics the service's EMF records create, counted from its own catalogue.

CloudWatch bills each unique (namespace, name, dimensions) as a custom metric, prorated by the
hours it receives data. The service writes one `service` record per flush with dimensions
[Stage, Service] (each SERVICE_METRICS entry is one metric, a histogram included), and one
`Requests` metric per (Route, CacheStatus) it saw: a cached read route can report each cache
status, every other route only NONE, and every path no route matched shares one Route value.
The count assumes every series receives data every hour: an upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from service import emf_catalog as catalog


@dataclass(frozen=True)
class EmfSeries:
    service_metrics: int
    request_series: int

    @property
    def total(self) -> int:
        return self.service_metrics + self.request_series

    def describe(self) -> str:
        return (
            f"{self.service_metrics} service metrics + {self.request_series} Requests series "
            "(route x cache status), service/emf_catalog.py"
        )


def route_paths() -> set[str]:
    """Every route template the service answers (the Route dimension's values)."""
    from service.api import api, router  # the service's own routers, not restated

    return {route.path for route in (*api.routes, *router.routes) if hasattr(route, "path")}


def emf_series() -> EmfSeries:
    cached = set(catalog.CACHED_READ_ROUTES)
    others = route_paths() - cached
    requests = len(cached) * len(catalog.CACHE_STATUSES) + len(others) + 1  # + unmatched
    return EmfSeries(service_metrics=len(catalog.SERVICE_METRICS), request_series=requests)
