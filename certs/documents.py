"""The electronic licence as documents: the sealed A4 PDF, the sealed OFD (GB/T 33190) and a
PNG preview of one version.

The page (:mod:`certs.layout`) carries the version's verification QR, which another part
makes (``verify`` signs QR payloads; this package only asks for the text through
:class:`LicenceQr`, so that ``certs`` does not depend on ``verify``). The PDF is sealed with
the seal its licence type names (:attr:`certs.types.LicenceType.seal_id`), as the issuing
system, PAdES B-T, over the issuing authority's name; the use is in the audit trail like
every use of a seal.

The OFD is sealed with the same registry seal as a GB/T 38540-2020 electronic seal
(:mod:`certs.ofd.seals` makes its SM2 ``SES_Seal`` once), so it needs the SM2 hierarchy
(``GOVTRUST_SM2_ENABLED``); without it :meth:`LicenceDocuments.sealed_ofd` answers 409. The
registry decides for each sealing whether the seal may be used (status, validity), as for
the PDF, and the use is recorded as ``seal.used`` with ``format: ofd``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Protocol

from certs.errors import (
    LicenceNotInForce,
    PrintNotFound,
    PrintStateConflict,
    SealOfAnotherAuthority,
)
from certs.fonts import font_collection_path, truetype_font
from certs.layout import LicencePage, licence_page
from certs.lifecycle import LicenceState, effective_state
from certs.models import Licence, LicencePrint
from certs.ofd.licence import sealed_licence_ofd
from certs.ofd.seals import OfdSeals
from certs.render_pdf import render_pdf
from certs.render_png import render_png
from certs.service import LicenceService
from core.audit.entry import AuditEvent
from core.db.engine import transaction
from core.errors.problem import ProblemError
from seal.registry import SealRegistry
from seal.service import StampingService, StampRequest
from seal.stamping.placement import AtPosition

SEALING_ACTOR = "system:licence-documents"
SEALING_PURPOSE = "电子证照签章"


class Sm2HierarchyOff(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            409,
            "sm2-hierarchy-off",
            "OFD licences are not available here",
            "An OFD licence is sealed with an SM2 electronic seal (GB/T 38540), and the SM2 "
            "key hierarchy is not enabled on this service (GOVTRUST_SM2_ENABLED).",
        )


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
        printed = None if print_serial is None else self._print(identifier, print_serial)
        return licence, self._page(licence, printed)

    def _print(self, identifier: str, print_serial: str) -> LicencePrint:
        """The print ``print_serial`` of version ``identifier``."""
        printed = next(
            (p for p in self.licences.prints(identifier) if p.print_serial == print_serial),
            None,
        )
        if printed is None or printed.identifier != identifier:
            raise PrintNotFound()
        return printed

    def _page(self, licence: Licence, printed: LicencePrint | None) -> LicencePage:
        """The page of ``licence``, or of its print ``printed`` (whose QR names its status
        list entry)."""
        licence_type = self.licences.get_type(licence.type_code)
        if printed is None:
            qr_text = self.qr.electronic(licence)
        elif printed.status_list_index is None:
            raise PrintNotFound()
        else:
            qr_text = self.qr.printed(licence, printed.print_serial, printed.status_list_index)
        return licence_page(licence, licence_type, qr_text)

    def _seal_id(self, licence: Licence) -> str:
        """The seal of the licence's type, which must be its issuing authority's own."""
        seal_id = self.licences.get_type(licence.type_code).seal_id
        if seal_id is None:
            raise ProblemError(
                409, "licence-type-without-seal", "This licence type names no seal to seal with"
            )
        if self.seals.get(seal_id).uscc != licence.issuer_uscc:
            raise SealOfAnotherAuthority()
        return seal_id

    def _in_force(self, licence: Licence, printed: LicencePrint | None = None) -> None:
        """Sealed anew only while in force: the version valid now, and a print still in use
        (not reported lost or destroyed)."""
        state = effective_state(licence, self.licences.clock())
        if state is not LicenceState.VALID:
            raise LicenceNotInForce(state.value)
        if printed is not None and printed.status != "active":
            raise PrintStateConflict(f"the print is reported {printed.status}")

    def sealed_pdf(self, identifier: str, print_serial: str | None = None) -> bytes:
        """The PDF of version ``identifier`` (or of its print ``print_serial``), sealed now by
        its type's seal."""
        licence = self.licences.get(identifier)
        printed = None if print_serial is None else self._print(identifier, print_serial)
        page = self._page(licence, printed)
        self._in_force(licence, printed)
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
                purpose=SEALING_PURPOSE,
            ),
            actor=SEALING_ACTOR,
            on=licence.identifier,
        )
        return stamped.pdf

    def sealed_ofd(self, identifier: str) -> bytes:
        """The OFD file of version ``identifier``, sealed now with its type's seal as a
        GB/T 38540 electronic seal (GB/T 33190-2016 §18); 409 without the SM2 hierarchy."""
        licence = self.licences.get(identifier)
        self._in_force(licence)
        if not self.seals.keys.sm2_enabled:
            raise Sm2HierarchyOff()
        page = self._page(licence, None)
        seal = self.seals.authorise_system_use(self._seal_id(licence), SEALING_ACTOR)
        sealer = OfdSeals(self.seals).sealer(seal, SEALING_ACTOR)
        title = f"{self.licences.get_type(licence.type_code).name} {licence.licence_number}"
        now = self.seals.clock()
        data = sealed_licence_ofd(page, truetype_font(self.font_cache), title, sealer, now)
        with transaction(self.seals.sessions) as session:
            self.seals.audit.record(
                session,
                AuditEvent(
                    actor=SEALING_ACTOR,
                    action="seal.used",
                    object_type="seal",
                    object_id=seal.id,
                    document_hash=hashlib.sha256(data).hexdigest(),
                    details={
                        "format": "ofd",
                        "on": licence.identifier,
                        "purpose": SEALING_PURPOSE,
                        "es_id": str(sealer.seal["e_seal_info"]["es_id"].native),
                    },
                ),
            )
        return data

    def preview_png(self, identifier: str) -> bytes:
        """A picture of the page with the seal's image where the seal goes (not signed)."""
        licence, page = self.page(identifier)
        seal_png = self.seals.image(self._seal_id(licence))
        return render_png(page, font_collection_path(), seal_png)
