"""Stamped documents per second: govtrust's seal engine against plain pyHanko.

    .venv/bin/python bench/stamping.py       # ~1.5 minutes; writes its section of RESULTS.md

The document is a one-page A4 PDF with Chinese text (an embedded subset of WenQuanYi
Micro Hei, as in ``tests/seal/conftest.py``), the seal a 400x400 transparent PNG drawn
120 pt square at (100, 100). Variants, each signing the same bytes one document after the
other in this one process (one core):

* govtrust ``seal.stamping.engine.stamp_pdf`` with a seal key from
  ``services.keys.create_object_key("seal", ...)`` (EC P-256, certificate from the seal CA):
  PAdES B-B, and B-T with govtrust's RFC 3161 TSA in process; the key in software
  (wrapped under the master key) and in SoftHSM2 through the registry's PKCS#11 backend
  (``GOVTRUST_KEY_BACKEND=pkcs11``; every key of that registry, the TSA's included, lives
  in a fresh token made with ``softhsm2-util --init-token --free`` in a temporary
  directory).
* plain pyHanko: ``signers.SimpleSigner`` with the same software private key and chain,
  ``PdfSigner`` with the same visible seal image in the same box, PAdES subfilter, pyHanko's
  defaults otherwise (it sizes the signature with a dry run); B-T with the same in-process
  TSA.

Runs are interleaved (every variant once per round, ``--runs`` rounds of ``--seconds``
each, after one unmeasured signature per variant); the report gives the median docs/s,
ms/doc, and govtrust ÷ pyHanko per round. One output of each variant is validated with
pyHanko (intact, valid, trusted to the govtrust root) before anything is timed.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from report import BENCH, fmt, machine, machine_lines, table, write_section

SOFTHSM_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
)
WQY = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
A4 = (595.0, 842.0)
BOX = (100.0, 100.0, 220.0, 220.0)  # AtPosition(0, 100, 100), 120 pt square


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- inputs (as tests/seal/conftest.py makes them) ----------------------------------------


def seal_png() -> bytes:
    from PIL import Image, ImageDraw

    size = 400
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    red = (220, 20, 30, 255)
    draw.ellipse((8, 8, size - 8, size - 8), outline=red, width=22)
    draw.ellipse((150, 150, 250, 250), fill=red)
    draw.rectangle((90, 280, 310, 300), fill=red)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def one_page_pdf(scratch: Path) -> bytes:
    """An A4 page: a title and "申请单位（盖章）" in an embedded CJK font."""
    from fontTools.ttLib import TTCollection
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.generic import pdf_name
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    if not WQY.exists():
        raise SystemExit(f"{WQY} is missing: apt-get install fonts-wqy-microhei")
    font = scratch / "wqy-microhei.ttf"
    TTCollection(str(WQY)).fonts[0].save(str(font))
    writer = PdfFileWriter(stream_xrefs=False)
    engine = GlyphAccumulatorFactory(str(font), font_size=14).create_font_engine(writer)
    title = engine.shape("行政许可决定书 第1页").graphics_ops
    anchor = engine.shape("申请单位（盖章）").graphics_ops
    content = b"BT /F1 14 Tf 72 760 Td %s ET BT /F1 14 Tf 300 200 Td %s ET" % (title, anchor)
    stream = writer.add_object(generic.StreamObject(stream_data=content))
    fonts = generic.DictionaryObject({pdf_name("/F1"): engine.as_resource()})
    resources = generic.DictionaryObject({pdf_name("/Font"): fonts})
    writer.insert_page(PageObject(stream, [0, 0, *A4], resources))
    engine.prepare_write()
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


# -- the registries ------------------------------------------------------------------------


@dataclass
class Registry:
    name: str
    services: Any
    key: Any  # ManagedSigner of the seal key
    tsa: Any  # keys.tsa.TimeStampAuthority


def build_registry(name: str, data_dir: Path, **settings: Any) -> Registry:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from core.db.migrate import upgrade
    from core.services import build_services
    from core.settings import Settings
    from keys.algorithms import KeyType
    from keys.tsa import TimeStampAuthority, TsaConfig

    data_dir.mkdir(parents=True)
    config = Settings(
        environment="development",
        secret_key=secrets.token_urlsafe(48),
        master_key=base64.b64encode(os.urandom(32)).decode(),
        data_dir=data_dir,
        issuer="http://127.0.0.1:9",
        **settings,
    )
    services = build_services(config)
    upgrade(services.engine)
    services.keys.init()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "某市行政审批局"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, "91350100M000100Y43"),
            x509.NameAttribute(NameOID.COMMON_NAME, "某市行政审批局行政审批专用章"),
        ]
    )
    info = services.keys.create_object_key("seal", subject, actor="bench", key_type=KeyType.EC_P256)
    key = services.keys.signer_by_kid(info.kid)
    signer = services.keys.signer("tsa")
    chain = signer.certificate_chain()
    tsa = TimeStampAuthority(signer, chain[0], chain[1:], TsaConfig(), services.keys.clock)
    return Registry(name, services, key, tsa)


def softhsm_token(directory: Path) -> dict[str, str] | None:
    """A fresh SoftHSM2 token; the settings for the registry's PKCS#11 backend."""
    util = shutil.which("softhsm2-util")
    module = next((m for m in SOFTHSM_MODULES if Path(m).is_file()), None)
    if util is None or module is None:
        return None
    tokens = directory / "tokens"
    tokens.mkdir(parents=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
        "slots.removable = false\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)  # read when the module is initialised
    label, pin = "govtrust-bench", "123456"
    subprocess.run(
        [util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "12345678"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return {
        "key_backend": "pkcs11",
        "pkcs11_module": module,
        "pkcs11_token_label": label,
        "pkcs11_pin": pin,
    }


# -- the signers ---------------------------------------------------------------------------


def govtrust_stamp(registry: Registry, pdf: bytes, png: bytes, level: str) -> Callable[[], bytes]:
    from seal.stamping import AtPosition, stamp_pdf

    def stamp() -> bytes:
        return stamp_pdf(
            pdf,
            registry.key,
            png,
            AtPosition(0, BOX[0], BOX[1]),
            level,  # type: ignore[arg-type]
            timestamper=registry.tsa if level == "B-T" else None,
            reason="行政许可审批",
        )

    return stamp


def pyhanko_stamp(registry: Registry, pdf: bytes, png: bytes, level: str) -> Callable[[], bytes]:
    """Plain pyHanko: SimpleSigner over the same software key and chain, same seal image."""
    from asn1crypto import keys as asn1_keys
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )
    from PIL import Image
    from pyhanko.pdf_utils import images, layout
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.fields import SigSeedSubFilter
    from pyhanko.stamp import StaticStampStyle
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    from seal.stamping import InProcessTimeStamper
    from seal.stamping.signer import to_asn1

    # the benchmark's own access to the software key (no public API hands it out)
    private_key = registry.key._raw._key
    der = private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    chain = [to_asn1(certificate) for certificate in registry.key.certificate_chain()]
    signer = signers.SimpleSigner(
        signing_cert=chain[0],
        signing_key=asn1_keys.PrivateKeyInfo.load(der),
        cert_registry=SimpleCertificateStore.from_certs(chain[1:]),
    )
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    width, height = BOX[2] - BOX[0], BOX[3] - BOX[1]
    timestamper = InProcessTimeStamper(registry.tsa) if level == "B-T" else None

    def stamp() -> bytes:
        name = f"Seal-{secrets.token_hex(6)}"
        style = StaticStampStyle(
            border_width=0,
            background=images.PdfImage(
                image, box=layout.BoxConstraints(width=width, height=height)
            ),
            background_opacity=1.0,
        )
        pdf_signer = signers.PdfSigner(
            signers.PdfSignatureMetadata(
                field_name=name,
                md_algorithm="sha256",
                subfilter=SigSeedSubFilter.PADES,
                reason="行政许可审批",
            ),
            signer,
            timestamper=timestamper,
            stamp_style=style,
            new_field_spec=fields.SigFieldSpec(sig_field_name=name, on_page=0, box=BOX),
        )
        output = pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)))
        return bytes(output.getvalue())

    return stamp


def check(pdf: bytes, registry: Registry, level: str) -> str:
    """pyHanko's verdict on the one signature, trusting only the govtrust root."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from seal.stamping.signer import to_asn1

    root = to_asn1(registry.key.certificate_chain()[-1])
    reader = PdfFileReader(io.BytesIO(pdf))
    signature = reader.embedded_signatures[0]
    context = ValidationContext(trust_roots=[root], allow_fetching=False)
    status = validate_pdf_signature(signature, context, ValidationContext(trust_roots=[root]))
    problems = [
        what
        for what, ok in (
            ("not intact", status.intact),
            ("not valid", status.valid),
            ("not trusted", status.trusted),
            ("no time-stamp", level == "B-B" or status.timestamp_validity is not None),
        )
        if not ok
    ]
    return "ok" if not problems else ", ".join(problems)


def rate(stamp: Callable[[], bytes], seconds: float) -> tuple[float, float]:
    """(documents per second, median ms per document) for ``seconds`` of signing."""
    durations = []
    start = time.perf_counter()
    while True:
        began = time.perf_counter()
        stamp()
        ended = time.perf_counter()
        durations.append(ended - began)
        if ended - start >= seconds:
            return len(durations) / (ended - start), 1000 * statistics.median(durations)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="per variant and run")
    args = parser.parse_args(argv)
    command = "python bench/stamping.py" + (
        " " + " ".join(argv if argv is not None else sys.argv[1:])
        if (argv if argv is not None else sys.argv[1:])
        else ""
    )
    warnings.filterwarnings("ignore")
    import logging

    logging.disable(logging.WARNING)
    started = time.monotonic()
    facts = machine()
    scratch = Path(tempfile.mkdtemp(prefix="govtrust-bench-stamping-"))
    registries: list[Registry] = []
    try:
        log("building a software-key registry")
        software = build_registry("software", scratch / "software")
        registries.append(software)
        hsm_settings = softhsm_token(scratch / "softhsm")
        hsm = None
        if hsm_settings is not None:
            log("building a SoftHSM2 registry (every key in the token)")
            hsm = build_registry("softhsm", scratch / "hsm-data", **hsm_settings)
            registries.append(hsm)
        else:
            log("softhsm2-util or libsofthsm2.so missing: no PKCS#11 rows")
        pdf, png = one_page_pdf(scratch), seal_png()

        variants: list[tuple[str, str, str, Callable[[], bytes], Registry]] = []
        for level in ("B-B", "B-T"):
            variants.append(
                (
                    f"gt_sw_{level}",
                    f"govtrust, software key, {level}",
                    level,
                    govtrust_stamp(software, pdf, png, level),
                    software,
                )
            )
            variants.append(
                (
                    f"plain_{level}",
                    f"plain pyHanko SimpleSigner, same key, {level}",
                    level,
                    pyhanko_stamp(software, pdf, png, level),
                    software,
                )
            )
            if hsm is not None:
                variants.append(
                    (
                        f"gt_hsm_{level}",
                        f"govtrust, SoftHSM2 key (PKCS#11), {level}",
                        level,
                        govtrust_stamp(hsm, pdf, png, level),
                        hsm,
                    )
                )
        verdicts = {}
        sizes = {}
        for key, _label, level, stamp, registry in variants:
            output = stamp()  # warm-up, and the file whose validity is checked
            verdicts[key] = check(output, registry, level)
            sizes[key] = len(output)
        log("verdicts: " + json.dumps(verdicts))
        rounds: list[dict[str, tuple[float, float]]] = []
        for index in range(args.runs):
            order = variants if index % 2 == 0 else list(reversed(variants))
            measured = {}
            for key, _label, _level, stamp, _registry in order:
                measured[key] = rate(stamp, args.seconds)
                log(f"round {index + 1} {key}: {measured[key][0]:.1f} docs/s")
            rounds.append(measured)
    finally:
        for registry in registries:
            registry.services.close()
        shutil.rmtree(scratch, ignore_errors=True)

    def med(key: str, i: int) -> float:
        return statistics.median(r[key][i] for r in rounds)

    def ratio(mine: str, theirs: str) -> str:
        values = [r[mine][0] / r[theirs][0] for r in rounds if mine in r and theirs in r]
        if not values:
            return "-"
        return f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"

    from importlib.metadata import version

    rows = []
    for key, label, level, _stamp, _registry in variants:
        versus = "1" if key.startswith("plain") else ratio(key, f"plain_{level}")
        rows.append(
            [
                label,
                f"**{fmt(med(key, 0))}**",
                fmt(med(key, 1)),
                f"{sizes[key]:,}",
                versus,
                verdicts[key],
            ]
        )
    lines = ["## Seal stamping (PAdES)", ""]
    lines += machine_lines(facts)
    lines += [
        f"- Command: `{command}` ({(time.monotonic() - started) / 60:.1f} minutes; load "
        f"average {facts['loadavg']} at the start)",
        f"- pyHanko {version('pyHanko')}; one process, one document at a time (one core); "
        f"{args.runs} interleaved rounds of {args.seconds:g} s per variant after one "
        "unmeasured signature; medians over the rounds; ratio = govtrust ÷ plain pyHanko at "
        "the same level, per round (range in brackets).",
        "- Document: one A4 page with Chinese text (embedded WenQuanYi Micro Hei subset); "
        "seal: 400×400 transparent PNG drawn 120 pt square; seal key EC P-256 with its "
        "certificate from the seal CA (chain of three embedded). B-T: govtrust's RFC 3161 "
        "TSA called in process by both sides (its signature with the TSA key, in software "
        "or in the token, is part of every B-T document).",
        "- SoftHSM2 rows: the registry's PKCS#11 backend (`GOVTRUST_KEY_BACKEND=pkcs11`) on "
        "a fresh token (`softhsm2-util --init-token --free`, temporary directory), "
        "`/usr/lib/softhsm/libsofthsm2.so`; the seal key and the TSA key never leave it.",
        "",
    ]
    lines += table(
        [
            "variant",
            "docs/s",
            "ms/doc (median)",
            "output bytes",
            "vs plain pyHanko",
            "pyHanko validation",
        ],
        rows,
    )
    runs_text = "; ".join(
        f"{key}: " + ", ".join(f"{r[key][0]:.1f}" for r in rounds) for key, *_ in variants
    )
    lines += [
        "",
        f"Runs (docs/s, in order): {runs_text}.",
        "",
        "Reading it: pyHanko itself costs tens of milliseconds per one-page signature (it "
        "parses the document, writes the incremental update, renders the appearance); a "
        "P-256 signature is a few hundredths of a millisecond in software, so the HSM and the "
        "TSA show up as the difference between rows. Plain pyHanko's defaults sign twice "
        "(a dry run to size `/Contents`); govtrust's engine reserves the size from the "
        "certificates instead.",
    ]
    write_section("stamping", "\n".join(lines))
    raw = BENCH / "results"
    raw.mkdir(exist_ok=True)
    (raw / "stamping.json").write_text(
        json.dumps(
            {
                "machine": facts,
                "command": command,
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "verdicts": verdicts,
                "sizes": sizes,
                "rounds": rounds,
            },
            indent=1,
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    log("wrote bench/RESULTS.md (stamping) and bench/results/stamping.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
