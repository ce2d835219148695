"""A receipt as ESC/POS bytes for thermal printers (58 mm: 32 columns, 80 mm: 48 columns).

python-escpos builds the commands (``escpos.printer.Dummy`` collects them instead of printing), so
alignment, emphasis, the code page of non-ASCII text, the native QR code and the cut are the library's
encodings, not hand-written codes. The layout is plain lines of at most ``columns`` characters.
"""

from __future__ import annotations

import textwrap

from escpos.printer import Dummy

from payments.receipts.document import ReceiptDocument, ReceiptLine, format_sats

QR_MODULE_SIZE = {32: 4, 48: 6}  # dots per QR module: about two thirds of the roll's width


def two_columns(left: str, right: str, columns: int) -> list[str]:
    """``left`` and ``right`` on one line, right-aligned; a long ``left`` wraps above it."""
    room = columns - len(right) - 1
    if room < 1:
        return [*textwrap.wrap(left, columns), right.rjust(columns)]
    wrapped = textwrap.wrap(left, room) or [""]
    return [*wrapped[:-1], wrapped[-1].ljust(room) + " " + right]


def amount_lines(line: ReceiptLine, columns: int) -> list[str]:
    out = two_columns(line.label, format_sats(line.sats), columns)
    if line.display:
        out.append(line.display.rjust(columns))
    return out


def _wrap(text: str, columns: int) -> list[str]:
    return textwrap.wrap(text, columns, break_long_words=True) or [""]


def receipt_escpos(document: ReceiptDocument, *, columns: int) -> bytes:
    """The receipt for a roll of ``columns`` characters (32 or 48), ending with a paper cut."""
    rule = "-" * columns
    printer = Dummy()
    printer.hw("INIT")

    printer.set_with_default(align="center", bold=True, double_height=True)
    for text in _wrap(document.merchant_name, columns):
        printer.textln(text)
    printer.set_with_default(align="center")
    for address_line in document.merchant_address:
        for text in _wrap(address_line, columns):
            printer.textln(text)
    printer.set_with_default(align="center", bold=True)
    printer.textln(document.title)

    printer.set_with_default()
    body = [rule, *two_columns("Date", f"{document.issued_at:%Y-%m-%d %H:%M}", columns)]
    body += two_columns("Ref", document.reference, columns)
    if document.memo:
        body += _wrap(f"Memo: {document.memo}", columns)
    if document.reason:
        body += _wrap(f"Reason: {document.reason}", columns)
    body.append(rule)
    for line in document.lines:
        body += amount_lines(line, columns)
    body.append(rule)
    for text in body:
        printer.textln(text)

    printer.set_with_default(bold=True)
    for text in amount_lines(document.total, columns):
        printer.textln(text)
    printer.set_with_default()

    tail = [rule]
    if document.tipped_staff:
        tail.append("Tip shared with")
        for share in document.tipped_staff:
            tail += two_columns(f"  {share.label}", format_sats(share.sats), columns)
        tail.append(rule)
    if document.status_note:
        tail.append(document.status_note)
    for label, value in document.proof:
        tail.append(f"{label}:")
        tail += _wrap(value, columns)
    for text in tail:
        printer.textln(text)

    printer.set_with_default(align="center")
    printer.ln()
    printer.qr(document.url, native=True, size=QR_MODULE_SIZE.get(columns, 4))
    for text in _wrap(document.footer, columns) if document.footer else []:
        printer.textln(text)
    printer.cut()
    return bytes(printer.output)
