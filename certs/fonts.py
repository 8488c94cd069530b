"""The CJK font licences are rendered with: the one the seal images use (WenQuanYi Micro Hei,
Debian ``fonts-wqy-microhei``), as a plain TrueType file for PDF embedding (PDF embeds one
font of a collection; the first face of the ``.ttc`` is extracted once into a cache folder)."""

from __future__ import annotations

import threading
from pathlib import Path

from fontTools.ttLib import TTCollection

from seal.images import find_font

_lock = threading.Lock()


def font_collection_path() -> str:
    return find_font()


def truetype_font(cache_dir: Path) -> Path:
    """A ``.ttf`` of the CJK font, extracted from the collection into ``cache_dir`` once."""
    source = Path(font_collection_path())
    if source.suffix.lower() != ".ttc":
        return source
    target = cache_dir / f"{source.stem}-0.ttf"
    with _lock:
        if not target.exists():
            cache_dir.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".part")
            TTCollection(str(source)).fonts[0].save(str(partial))
            partial.replace(target)
    return target
