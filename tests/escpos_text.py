"""Reading ESC/POS bytes back as text for assertions: commands are parsed (and checked to be the ones
the receipt uses) and dropped; text is decoded in the code page the last ``ESC t`` selected."""

from __future__ import annotations

from escpos.capabilities import get_profile

# ESC/GS commands the receipt uses, by their bytes after ESC/GS, with the count of argument bytes.
_FIXED = {
    b"\x1b@": 0,  # initialise
    b"\x1b!": 1,  # print mode
    b"\x1bE": 1,  # bold
    b"\x1b-": 1,  # underline
    b"\x1bM": 1,  # font
    b"\x1ba": 1,  # align
    b"\x1bt": 1,  # code page
    b"\x1b{": 1,  # upside down
    b"\x1bd": 1,  # feed lines
    b"\x1db": 1,  # smoothing
    b"\x1dB": 1,  # inverse
    b"\x1d!": 1,  # character size
    b"\x1dV": 1,  # cut
}
_CODE_PAGES = {int(number): name for name, number in get_profile().get_code_pages().items()}


def escpos_to_text(data: bytes) -> tuple[str, list[bytes]]:
    """(the printed text, the QR codes' contents) of ``data``; raises on an unexpected command."""
    text: list[str] = []
    qr_codes: list[bytes] = []
    encoding = "cp437"
    i = 0
    while i < len(data):
        two = data[i : i + 2]
        if two == b"\x1d(":  # GS ( k pL pH fn...: a 2D code block with a 16-bit length
            length = data[i + 3] + 256 * data[i + 4]
            payload = data[i + 5 : i + 5 + length]
            if payload[:3] == b"1P0":  # store the QR code's data
                qr_codes.append(payload[3:])
            i += 5 + length
            continue
        if two in _FIXED:
            if two == b"\x1bt":
                encoding = _CODE_PAGES[data[i + 2]].lower().replace("_", "-")
            i += 2 + _FIXED[two]
            continue
        if data[i] in (0x1B, 0x1D):
            raise AssertionError(f"unexpected ESC/POS command {two!r} at {i}")
        end = i
        while end < len(data) and data[end] not in (0x1B, 0x1D):
            end += 1
        text.append(data[i:end].decode(encoding))
        i = end
    return "".join(text), qr_codes
