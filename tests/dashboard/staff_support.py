"""Helpers for the staff self-service tests: sign a staff member in, read a PDF's text."""

from __future__ import annotations

import re
import zlib
from typing import Any

from django.test import Client

from payments.models import Merchant, Staff
from payments.services.staff_access import staff_login_update, staff_portal_get_or_create

PIN = "4826"


def give_login(merchant: Merchant, staff: Staff, *, email: str = "", pin: str = PIN) -> str:
    """Set the staff member's email and PIN; returns the merchant's staff code."""
    staff_login_update(merchant=merchant, staff_id=staff.pk, email=email, pin=pin)
    return staff_portal_get_or_create(merchant=merchant).code


def pin_sign_in(client: Client, *, code: str, name: str, pin: str = PIN) -> Any:
    return client.post("/staff/login/", {"code": code, "name": name, "pin": pin})


def signed_in_client(merchant: Merchant, staff: Staff) -> Client:
    client = Client()
    code = give_login(merchant, staff)
    response = pin_sign_in(client, code=code, name=staff.blink_username)
    assert response.status_code == 302 and response["Location"] == "/staff/"
    return client


def pdf_text(pdf: bytes) -> str:
    """The text drawn on the pages (fpdf2 writes Latin-1 strings in Flate-compressed content streams)."""
    out = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            out.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            out.append(stream.decode("latin-1"))
    return "\n".join(out)
