"""QR codes for deposit addresses, rendered server-side as inline SVG with segno (no JavaScript, no network)."""

import segno
from django.utils.safestring import mark_safe


def address_qr(text: str):
    """The QR code of exactly `text` (error correction M, so a slightly blurry photo still scans)."""
    return segno.make(text, error="m", boost_error=False)


def address_qr_svg(text: str, *, title: str) -> str:
    """Inline SVG: dark modules on white with the 4-module quiet zone scanners need."""
    svg = address_qr(text).svg_inline(scale=5, border=4, dark="#111827", light="#ffffff", title=title)
    return mark_safe(svg)  # noqa: S308 - segno escapes the title; the rest is generated markup
