"""The custom metric count comes from the service's own catalogue and routes."""

from __future__ import annotations

from service import emf_catalog as catalog
from tools.cost.emf_metrics import emf_series, route_paths


def test_the_cached_read_routes_of_the_catalogue_are_routes_the_service_answers() -> None:
    # If the catalogue named a route the API no longer has, its series would be counted for
    # a route that never reports.
    assert set(catalog.CACHED_READ_ROUTES) <= route_paths()


def test_the_count_is_service_metrics_plus_every_route_and_cache_status_series() -> None:
    series = emf_series()
    others = route_paths() - set(catalog.CACHED_READ_ROUTES)
    assert series.service_metrics == len(catalog.SERVICE_METRICS)
    assert series.request_series == (
        len(catalog.CACHED_READ_ROUTES) * len(catalog.CACHE_STATUSES) + len(others) + 1
    )
    assert "/health" in others
    assert series.total == series.service_metrics + series.request_series
