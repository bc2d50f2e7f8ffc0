"""PNG character cards: the card's JSON, base64-encoded, in a ``tEXt`` chunk with the keyword ``chara``.

This is how SillyTavern and other front ends store a card in its avatar image. Pillow is imported only here and
only when a PNG card is written or read, so the bot's start-up does not load it.
"""

from __future__ import annotations

import base64
import binascii
import io

from bot.cards.model import CardError

__all__ = ["CARD_IMAGE_SIZE", "CHUNK_KEYWORD", "card_png", "read_card_text"]

CHUNK_KEYWORD = "chara"
CARD_IMAGE_SIZE: tuple[int, int] = (400, 600)
"""Width and height of the plain image exported cards carry: the usual 2:3 card portrait."""
_V3_KEYWORD = "ccv3"


def card_png(card_json: str, color: int, size: tuple[int, int] = CARD_IMAGE_SIZE) -> bytes:
    """A plain image of ``color`` (0xRRGGBB) carrying ``card_json`` in a ``chara`` tEXt chunk."""
    from PIL import Image, PngImagePlugin

    image = Image.new("RGB", size, ((color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF))
    info = PngImagePlugin.PngInfo()
    # Base64 is plain ASCII, so Pillow writes a tEXt chunk (not zTXt, as zip=False, nor iTXt, which it keeps for
    # text outside Latin-1): the chunk the card readers look for.
    info.add_text(CHUNK_KEYWORD, base64.b64encode(card_json.encode("utf-8")).decode("ascii"), zip=False)
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def read_card_text(data: bytes) -> str:
    """The card JSON text a PNG card carries; ``CardError`` naming the chunk when there is none or it is unreadable."""
    from PIL import Image, PngImagePlugin, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            if not isinstance(image, PngImagePlugin.PngImageFile):
                raise CardError("file", "not a PNG image")
            chunks = dict(image.text)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, CardError):
            raise
        raise CardError("file", f"not a readable PNG image ({exc})") from exc
    keywords = {keyword.lower(): keyword for keyword in chunks}
    if CHUNK_KEYWORD not in keywords:
        if _V3_KEYWORD in keywords:
            raise CardError(CHUNK_KEYWORD, "missing: this PNG holds only a Character Card V3 (ccv3), not read here")
        raise CardError(CHUNK_KEYWORD, "missing: this PNG has no chara text chunk, so it is not a character card")
    encoded = "".join(chunks[keywords[CHUNK_KEYWORD]].split())
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise CardError(CHUNK_KEYWORD, f"not base64 of UTF-8 text ({exc})") from exc
