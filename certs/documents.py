"""The electronic licence as documents: the sealed A4 PDF and a PNG preview of one version.

The page (:mod:`certs.layout`) carries the version's verification QR, which another part
makes (``verify`` signs QR payloads; this package only asks for the text through
:class:`LicenceQr`, so that ``certs`` does not depend on ``verify``). The PDF is sealed with
the seal its licence type names (:attr:`certs.types.LicenceType.seal_id`), as the issuing
system, PAdES B-T, over the issuing authority's name; the use is in the audit trail like
every use of a seal.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Protocol

from certs.errors import PrintNotFound
from certs.fonts import font_collection_path, truetype_font
from certs.layout import LicencePage, licence_page
from certs.models import Licence
from certs.render_pdf import render_pdf
from certs.render_png import render_png
from certs.service import LicenceService
from core.errors.problem import ProblemError
from seal.registry import SealRegistry
from seal.service import StampingService, StampRequest
from seal.stamping.placement import AtPosition

SEALING_ACTOR = "system:licence-documents"


class LicenceQr(Protocol):
    def electronic(self, licence: Licence) -> str:
        """The QR text of the electronic licence ``licence``."""
        ...

    def printed(self, licence: Licence, print_serial: str, print_index: int) -> str:
        """The QR text of one paper print of ``licence``."""
        ...

    def dynamic(self, licence: Licence) -> tuple[str, datetime]:
        """A short-lived QR for the holder's phone (亮证), and when it expires."""
        ...


class LicenceDocuments:
    def __init__(
        self,
        licences: LicenceService,
        seals: SealRegistry,
        stamping: StampingService,
        qr: LicenceQr,
        font_cache: Path,
    ) -> None:
        self.licences = licences
        self.seals = seals
        self.stamping = stamping
        self.qr = qr
        self.font_cache = font_cache

    def page(self, identifier: str, print_serial: str | None = None) -> tuple[Licence, LicencePage]:
        """The page of version ``identifier``: the electronic licence, or with
        ``print_serial`` the paper print of that serial (its QR names the print)."""
        licence = self.licences.get(identifier)
        licence_type = self.licences.get_type(licence.type_code)
        if print_serial is None:
            qr_text = self.qr.electronic(licence)
        else:
            printed = next(
                (p for p in self.licences.prints(identifier) if p.print_serial == print_serial),
                None,
            )
            if (
                printed is None
                or printed.identifier != identifier
                or printed.status_list_index is None
            ):
                raise PrintNotFound()
            qr_text = self.qr.printed(licence, print_serial, printed.status_list_index)
        return licence, licence_page(licence, licence_type, qr_text)

    def _seal_id(self, licence: Licence) -> str:
        seal_id = self.licences.get_type(licence.type_code).seal_id
        if seal_id is None:
            raise ProblemError(
                409, "licence-type-without-seal", "This licence type names no seal to seal with"
            )
        return seal_id

    def sealed_pdf(self, identifier: str, print_serial: str | None = None) -> bytes:
        """The PDF of version ``identifier`` (or of its print ``print_serial``), sealed now by
        its type's seal."""
        licence, page = self.page(identifier, print_serial)
        seal_id = self._seal_id(licence)
        title = f"{self.licences.get_type(licence.type_code).name} {licence.licence_number}"
        pdf = render_pdf(page, truetype_font(self.font_cache), title)
        box = page.seal
        stamped = self.stamping.stamp_as_system(
            StampRequest(
                seal_id=seal_id,
                document=pdf,
                placement=AtPosition(page=0, x=box.x, y=box.y, size=box.size),
                level="B-T",
                purpose="电子证照签章",
            ),
            actor=SEALING_ACTOR,
            on=licence.identifier,
        )
        return stamped.pdf

    def preview_png(self, identifier: str) -> bytes:
        """A picture of the page with the seal's image where the seal goes (not signed)."""
        licence, page = self.page(identifier)
        seal_png = self.seals.image(self._seal_id(licence))
        return render_png(page, font_collection_path(), seal_png)
