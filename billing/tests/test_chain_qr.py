"""Deposit address QR codes decode back to exactly the address."""

import zxingcpp
from PIL import Image

from billing.chains import qr


def _decode(text: str) -> list[str]:
    matrix = qr.address_qr(text).matrix
    size = len(matrix)
    image = Image.new("L", (size + 8, size + 8), 255)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                image.putpixel((x + 4, y + 4), 0)
    image = image.resize(((size + 8) * 6, (size + 8) * 6), Image.NEAREST)
    return [r.text for r in zxingcpp.read_barcodes(image)]


def test_it_encodes_an_evm_address_that_decodes_back():
    address = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
    assert _decode(address) == [address]


def test_it_encodes_a_solana_address_that_decodes_back():
    address = "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"
    assert _decode(address) == [address]


def test_it_renders_an_accessible_svg():
    svg = qr.address_qr_svg("0x9858EfFD232B4033E47d90003D41EC34EcaEda94", title="Ethereum deposit address")
    assert svg.startswith("<svg")
    assert "<title>Ethereum deposit address</title>" in svg
