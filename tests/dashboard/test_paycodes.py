"""Pay codes in the dashboard's settings: create (every bad input a 400 naming the field, nothing
written), deactivate (own codes only), and the PDF poster (its text and the QR of the code's LNURL)."""

from __future__ import annotations

import re
import zlib

import pytest
import segno
from django.test import Client

from dashboard.posters import poster_qr_content
from payments.lnurl.server import lnurl_decode
from payments.models import Merchant, PayCode, PayCodeKind
from payments.paycode_links import PublicHost, paycode_lnurl
from payments.services.paycodes import paycode_create
from tests.factories import SplitProfileFactory, SplitProfileShareFactory, StaffFactory

pytestmark = pytest.mark.django_db


def _post(client: Client, **data: object) -> object:
    return client.post("/settings/pay-codes/", data)


def test_staff_code_is_created_from_settings(client_a: Client, merchant: Merchant, staff_a) -> None:
    response = _post(client_a, kind="staff", username="Dana-Tips", staff=staff_a.pk, max_sendable_sats=50_000)
    assert response.status_code == 302
    code = PayCode.objects.get()
    assert (code.merchant_id, code.kind, code.username, code.staff_id) == (
        merchant.pk,
        "staff",
        "dana-tips",
        staff_a.pk,
    )
    assert (code.min_sendable_sats, code.max_sendable_sats) == (1, 50_000)
    page = client_a.get("/settings/").content.decode()
    assert "dana-tips@testserver" in page and f"/settings/pay-codes/{code.pk}/poster.pdf" in page


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "staff", "username": "bad name!"}, "username"),
        ({"kind": "staff", "username": "UPPER@x"}, "username"),
        ({"kind": "staff", "username": "x" * 65}, "username"),
        ({"kind": "boss", "username": "ok"}, "kind"),
        ({"kind": "staff", "username": "ok"}, "staff"),
        ({"kind": "team", "username": "ok"}, "split_profile"),
        ({"kind": "merchant", "username": "ok", "min_sendable_sats": "0"}, "min_sendable_sats"),
        (
            {"kind": "merchant", "username": "ok", "min_sendable_sats": "10", "max_sendable_sats": "5"},
            "max_sendable_sats",
        ),
        ({"kind": "merchant", "username": "ok", "max_sendable_sats": "999999999999"}, "max_sendable_sats"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client_a: Client, data: dict[str, str], field: str) -> None:
    response = client_a.post("/settings/pay-codes/", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(rf'<label class="field invalid">[^<]*<(input|select)[^>]*name="{field}"', html), field
    assert not PayCode.objects.exists()


def test_another_merchants_staff_and_a_taken_name_are_refused(
    client_a: Client, merchant: Merchant, other_merchant: Merchant, staff_a
) -> None:
    theirs = StaffFactory(merchant=other_merchant)
    assert _post(client_a, kind="staff", username="x", staff=theirs.pk).status_code == 400
    paycode_create(merchant=other_merchant, kind="merchant", username="bobs")
    response = _post(client_a, kind="merchant", username="BOBS")
    assert response.status_code == 400 and "This name is taken" in response.content.decode()
    assert PayCode.objects.filter(merchant=merchant).count() == 0


def test_a_team_code_with_an_unpayable_member_is_refused(client_a: Client, merchant: Merchant) -> None:
    member = StaffFactory(merchant=merchant, wallet_id="", lightning_address="")
    profile = SplitProfileFactory(merchant=merchant)
    SplitProfileShareFactory(profile=profile, staff=member)
    response = _post(client_a, kind="team", username="floor", split_profile=profile.pk)
    assert response.status_code == 400 and "not resolved" in response.content.decode()
    assert not PayCode.objects.exists()


def test_deactivate_own_code_only(client_a: Client, merchant: Merchant, other_merchant: Merchant) -> None:
    mine = paycode_create(merchant=merchant, kind="merchant", username="mine")
    theirs = paycode_create(merchant=other_merchant, kind="merchant", username="theirs")
    assert client_a.post(f"/settings/pay-codes/{theirs.pk}/deactivate/").status_code == 404
    assert client_a.post(f"/settings/pay-codes/{mine.pk}/deactivate/").status_code == 302
    assert list(PayCode.objects.filter(is_active=True).values_list("username", flat=True)) == ["theirs"]
    assert client_a.get(f"/settings/pay-codes/{theirs.pk}/poster.pdf").status_code == 404


def _pdf_text(pdf: bytes) -> str:
    """The text drawn on the page (fpdf2 writes Latin-1 strings in Flate-compressed content streams)."""
    out = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            out.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            out.append(stream.decode("latin-1"))
    return "\n".join(out)


@pytest.mark.parametrize("size", ["A4", "A5"])
def test_poster_pdf_holds_names_address_and_the_lnurl_qr(
    client_a: Client, merchant: Merchant, staff_a, size: str
) -> None:
    code = paycode_create(merchant=merchant, kind=PayCodeKind.STAFF, username="dana", staff=staff_a)

    response = client_a.get(f"/settings/pay-codes/{code.pk}/poster.pdf?size={size}")

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    pdf = response.content
    assert pdf.startswith(b"%PDF-")
    text = _pdf_text(pdf)
    for expected in ("Alice's Cafe", "Tip Dana", "dana@testserver", "Scan with any Lightning wallet to send a tip."):
        assert f"({expected})" in text.replace("\\'", "'").replace("\\(", "(").replace("\\)", ")"), expected
    # the QR drawn is segno's code for the LNURL of this code's LUD-06 URL: one filled square per dark module
    lnurl = paycode_lnurl(code, PublicHost(host="testserver", scheme="https"))
    assert lnurl_decode(lnurl) == f"https://testserver/lnurlp/{code.pk}"
    dark = sum(sum(row) for row in segno.make_qr(poster_qr_content(lnurl), error="m").matrix)
    assert len(re.findall(r" re f\b", text)) == dark


@pytest.mark.parametrize("size", ["A3", "a4", ""])
def test_poster_size_other_than_a4_or_a5_is_a_400_naming_it(client_a: Client, merchant: Merchant, size: str) -> None:
    code = paycode_create(merchant=merchant, kind="merchant", username="shop")
    response = client_a.get(f"/settings/pay-codes/{code.pk}/poster.pdf", {"size": size})
    assert response.status_code == 400 and response.content.startswith(b"size:")
