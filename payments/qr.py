"""SVG QR codes for Lightning invoices (segno): the one renderer behind the POS API's
``GET /api/v1/invoices/{hash}/qr.svg`` (and its ``?include=qr_svg`` opt-in) and the web POS's QR.

The code encodes ``LIGHTNING:<BOLT11>`` in upper case: bech32 is case-insensitive and upper case
fits QR's alphanumeric mode, which makes a noticeably smaller, easier-to-scan code. The ``lightning:``
URI scheme lets a phone's camera open the wallet directly.

Rendering costs ~20 CPU ms, almost all of it segno choosing the best of the eight masks. That choice
is kept (it is what makes the code easy for cameras to read) and the cost is paid only when a QR is
asked for, once per sale, never on the create path. The SVG is rendered on request and not cached in
Redis: it carries the bolt11, which is kept out of Redis, logs and task messages.
"""

from __future__ import annotations

import io

import segno

# Part of the ETag: bump it when the drawing below changes, so clients do not keep an old picture.
RENDER_VERSION = "1"


def qr_content(payment_request: str) -> str:
    """What the QR code encodes for ``payment_request``."""
    return f"lightning:{payment_request}".upper()


def invoice_qr_svg(payment_request: str, *, scale: int = 4) -> str:
    """An ``<svg>`` element for ``payment_request``: with the SVG namespace and no XML declaration, so
    the same text is a valid ``image/svg+xml`` document and can be inserted into an HTML page."""
    qr = segno.make_qr(qr_content(payment_request), error="m")
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=scale, border=2, dark="#000", light="#fff", xmldecl=False, nl=False)
    return buffer.getvalue().decode("ascii")


def qr_etag(payment_hash: str) -> str:
    """A strong ETag for the QR of ``payment_hash``: a split's bolt11 never changes, so the picture is
    a function of the hash and the renderer version, and a revalidation needs no rendering."""
    return f'"qr{RENDER_VERSION}-{payment_hash}"'


def link_qr_svg(url: str, *, scale: int = 4) -> str:
    """An ``<svg>`` QR code of a web link (a customer's receipt), drawn like the invoice codes."""
    qr = segno.make_qr(url, error="m")
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=scale, border=2, dark="#000", light="#fff", xmldecl=False, nl=False)
    return buffer.getvalue().decode("ascii")
