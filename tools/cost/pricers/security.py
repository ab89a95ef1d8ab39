"""Encryption keys and secrets."""

from __future__ import annotations

from tools.cost.model import Context, LineItem
from tools.cost.templates import Resource


def kms_key(res: Resource, ctx: Context) -> list[LineItem]:
    rotation = res.prop("EnableKeyRotation", default=False)
    what = "1 customer managed key" + (
        " (yearly rotation: each of the first two rotations adds a key-month from then on)"
        if rotation
        else ""
    )
    return [ctx.item(res, "KMS", what, "kms.key_month", 1)]


def secret(res: Resource, ctx: Context) -> list[LineItem]:
    name = res.prop("Name")
    what = f"1 secret{f' ({name})' if isinstance(name, str) else ''}"
    return [ctx.item(res, "Secrets Manager", what, "secrets.secret_month", 1)]
