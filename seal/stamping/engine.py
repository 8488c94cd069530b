"""Put an electronic seal on a PDF: a PAdES baseline signature (ETSI EN 319 142-1) with a
visible seal image.

Levels (ETSI EN 319 142-1 §6):

* ``B-B``: CMS SignedData with ``/SubFilter /ETSI.CAdES.detached`` (§6.2.1), the
  ESS signing-certificate-v2 attribute, no ``signing-time`` in the CMS (the time is the
  ``/M`` entry of the signature dictionary, ISO 32000-1 §12.8.1).
* ``B-T``: plus a signature time-stamp (§6.3, RFC 3161) from a TSA.
* ``B-LT``: plus the certificates, OCSP responses and CRLs needed to validate the
  signature and its time-stamp, in the DSS of an incremental update after the signature
  (§6.3, ISO 32000-2 §12.8.4.3).

The signature covers the whole document as it is when signed (ISO 32000-1 §12.8.1
ByteRange). For a cross-page seal the slices on the other pages are drawn in an incremental
update written *before* the signature, so the signature covers them too.
"""

from __future__ import annotations

import io
import uuid
from typing import Any, Literal, cast

from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.timestamps import TimeStamper, TimestampRequestError
from pyhanko_certvalidator import ValidationContext

from seal.stamping.appearance import draw_slices, load_seal_image, seal_style
from seal.stamping.document import as_invalid_pdf, finish_revision, open_for_update, page_boxes
from seal.stamping.errors import StampingError
from seal.stamping.placement import AtAnchor, Placement, TextRun, locate
from seal.stamping.signer import RegistrySigner, SigningKey
from seal.stamping.text_runs import PageText
from seal.stamping.timestamping import TimeStampResponder, make_timestamper

Level = Literal["B-B", "B-T", "B-LT"]
LEVELS: tuple[Level, ...] = ("B-B", "B-T", "B-LT")

#: Room for the CMS beyond the certificates and the signature value: attributes, algorithm
#: identifiers, structure. A time-stamp token (RFC 3161) with its TSA's chain gets more.
CMS_OVERHEAD = 3072
TIMESTAMP_ALLOWANCE = 12288


def _no_text(_page: int) -> list[TextRun]:
    return []


def reserved_bytes(signer: RegistrySigner, timestamped: bool) -> int:
    """Bytes to reserve in ``/Contents`` (hex, so twice the CMS size), computed from the
    certificates instead of pyHanko's dry-run signature."""
    embedded = [signer.signing_cert, *signer.cert_registry]
    certificates = sum(len(certificate.dump()) for certificate in embedded if certificate)
    size = certificates + signer.signature_size + CMS_OVERHEAD
    if timestamped:
        size += TIMESTAMP_ALLOWANCE
    return 2 * size


def stamp_pdf(
    pdf: bytes,
    signer_adapter: SigningKey,
    seal_png: bytes,
    placement: Placement,
    level: Level,
    *,
    timestamper: TimeStamper | TimeStampResponder | str | None = None,
    validation: ValidationContext | None = None,
    reason: str | None = None,
    field_name: str | None = None,
    location: str | None = None,
) -> bytes:
    """The sealed PDF: ``pdf`` plus incremental updates holding the seal.

    ``timestamper``: a TSA URL, an object with ``respond(der) -> der`` (govtrust's
    :class:`keys.tsa.TimeStampAuthority`) or a pyHanko ``TimeStamper``; needed for B-T and
    B-LT. ``validation``: required for B-LT (see :func:`seal.stamping.revinfo.
    validation_context`); when given at another level the seal certificate is still
    validated before signing. Raises a :class:`seal.stamping.errors.StampingError`
    subclass on bad input, never a parser's own exception.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown PAdES level {level!r}; use one of {', '.join(LEVELS)}")
    stamper = make_timestamper(timestamper)
    if level != "B-B" and stamper is None:
        raise ValueError(f"PAdES {level} needs a time-stamp authority")
    if level == "B-LT" and validation is None:
        raise ValueError("PAdES B-LT needs a validation context to collect revocation data")
    image = load_seal_image(seal_png)
    writer = open_for_update(pdf)
    boxes = locate(
        placement,
        page_boxes(writer.prev),
        PageText(pdf) if isinstance(placement, AtAnchor) else _no_text,
    )
    if len(boxes) > 1:
        with as_invalid_pdf("the pages could not be drawn on"):
            draw_slices(writer, image, boxes[:-1])
            writer = finish_revision(writer)
    widget = boxes[-1]
    name = field_name or f"Seal-{uuid.uuid4().hex[:12]}"
    signer = RegistrySigner(signer_adapter)
    metadata = PdfSignatureMetadata(
        field_name=name,
        md_algorithm=signer.digest_algorithm,
        subfilter=SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        embed_validation_info=level == "B-LT",
        validation_context=validation,
    )
    rect = widget.rect
    pdf_signer = PdfSigner(
        metadata,
        signer,
        timestamper=stamper,
        stamp_style=seal_style(image, widget),
        new_field_spec=SigFieldSpec(
            sig_field_name=name,
            on_page=widget.page,
            box=cast(Any, (rect.x1, rect.y1, rect.x2, rect.y2)),
        ),
    )
    try:
        output = pdf_signer.sign_pdf(
            writer, bytes_reserved=reserved_bytes(signer, stamper is not None)
        )
    except TimestampRequestError as exc:
        raise StampingError(f"time-stamp: {exc}") from exc
    except SigningError as exc:
        raise StampingError(str(exc)) from exc
    except PdfError as exc:
        raise StampingError(f"the document could not be signed: {exc}") from exc
    return bytes(cast(io.BytesIO, output).getvalue())
