"""PDF stamping: electronic seals as PAdES signatures (ETSI EN 319 142-1) with a visible
seal image, placed by position, by anchor text, or across pages (骑缝章)."""

from seal.stamping.engine import Level, stamp_pdf
from seal.stamping.errors import (
    AnchorNotFound,
    EncryptedPdf,
    InvalidPdf,
    InvalidSealImage,
    PlacementError,
    StampingError,
)
from seal.stamping.placement import AtAnchor, AtPosition, CrossPage, Placement
from seal.stamping.revinfo import validation_context
from seal.stamping.signer import RegistrySigner, SigningKey
from seal.stamping.timestamping import InProcessTimeStamper

__all__ = [
    "AnchorNotFound",
    "AtAnchor",
    "AtPosition",
    "CrossPage",
    "EncryptedPdf",
    "InProcessTimeStamper",
    "InvalidPdf",
    "InvalidSealImage",
    "Level",
    "Placement",
    "PlacementError",
    "RegistrySigner",
    "SigningKey",
    "StampingError",
    "stamp_pdf",
    "validation_context",
]
