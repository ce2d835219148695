"""Printable posters for pay codes (PDF, A4 or A5): the merchant's name, who the code pays, the QR code
of the code's LNURL (``lightning:LNURL1…``, which any Lightning wallet opens), the ``name@host``
address for wallets that take addresses, and a one-line instruction. fpdf2 draws the page; segno
draws the QR code as vector rectangles, so it prints sharp at any size.
"""

from __future__ import annotations

import segno
from fpdf import FPDF

from payments.models import PayCode, PayCodeKind

# Core PDF fonts cover Latin-1 only; anything else prints as "?" rather than failing the download.
_ENCODING = "latin-1"
PAGE_SIZES_MM = {"A4": (210.0, 297.0), "A5": (148.0, 210.0)}


def _text(value: str) -> str:
    return value.encode(_ENCODING, "replace").decode(_ENCODING)


def poster_qr_content(lnurl: str) -> str:
    """What the poster's QR code encodes: upper case fits QR's alphanumeric mode (a smaller code)."""
    return f"lightning:{lnurl}".upper()


def _headline(code: PayCode) -> tuple[str, str]:
    if code.kind == PayCodeKind.STAFF and code.staff is not None:
        return f"Tip {code.staff.display_name}", "Scan with any Lightning wallet to send a tip."
    if code.kind == PayCodeKind.TEAM and code.split_profile is not None:
        return f"Tip the {code.split_profile.name} team", "Scan with any Lightning wallet; the team shares it."
    return "Pay with Lightning", "Scan with any Lightning wallet and enter the amount."


def paycode_poster_pdf(*, code: PayCode, address: str, lnurl: str, size: str = "A4") -> bytes:
    # A5 as millimetres: fpdf2 warns on the "A5" name (its dimensions changed in 2.8.5).
    pdf = FPDF(orientation="portrait", unit="mm", format=PAGE_SIZES_MM[size])
    pdf.set_title(_text(f"{code.merchant.name}: {address}"))
    pdf.set_auto_page_break(False)
    pdf.add_page()
    width = pdf.w
    scale = 1.0 if size == "A4" else 0.7
    headline, instruction = _headline(code)

    pdf.set_font("helvetica", "B", 30 * scale)
    pdf.set_y(22 * scale)
    pdf.cell(0, 14 * scale, _text(code.merchant.name), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 22 * scale)
    pdf.cell(0, 12 * scale, _text(headline), align="C", new_x="LMARGIN", new_y="NEXT")

    qr = segno.make_qr(poster_qr_content(lnurl), error="m")
    side = 120 * scale
    module = side / (qr.symbol_size(border=0)[0])
    left, top = (width - side) / 2, pdf.get_y() + 10 * scale
    pdf.set_fill_color(0, 0, 0)
    for row, bits in enumerate(qr.matrix):
        for col, dark in enumerate(bits):
            if dark:
                pdf.rect(left + col * module, top + row * module, module, module, style="F")

    pdf.set_y(top + side + 10 * scale)
    pdf.set_font("helvetica", "B", 18 * scale)
    pdf.cell(0, 10 * scale, _text(address), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 14 * scale)
    pdf.multi_cell(0, 8 * scale, _text(instruction), align="C")
    return bytes(pdf.output())
