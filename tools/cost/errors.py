"""What stops an estimate: each message names the thing and the fix."""

from __future__ import annotations


class CostError(Exception):
    """An estimate that cannot be made honestly; the message says what to change."""


class UnknownResourceType(CostError):
    def __init__(self, resource_type: str, where: list[str]) -> None:
        self.resource_type = resource_type
        shown = ", ".join(where[:3]) + (f" and {len(where) - 3} more" if len(where) > 3 else "")
        super().__init__(
            f"{resource_type} ({shown}) is neither priced nor listed as free. Fix: add a "
            f"pricer for it to BILLABLE in tools/cost/classify.py (with its prices in "
            f"tools/cost/prices.json), or list it in FREE there with the reason it costs nothing"
        )


class NotPriced(CostError):
    """A billable resource in a configuration the estimator has no honest price for."""

    def __init__(self, where: str, problem: str, fix: str) -> None:
        self.where = where
        super().__init__(f"{where}: {problem}. Fix: {fix}")
