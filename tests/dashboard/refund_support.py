"""The refund forms' fields as a browser sends them (dashboard/refund_submit.py)."""

from __future__ import annotations

import uuid


def refund_form(fields: dict[str, str]) -> dict[str, str]:
    """``fields`` with the rendered form's own one-time key, as every browser submit carries."""
    return {"form_key": uuid.uuid4().hex, **fields}
