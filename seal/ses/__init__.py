"""Electronic seals and signatures in the GB/T 38540-2020 format (SES, version 4).

- :mod:`seal.ses.asn1`: the ASN.1 structures (``SES_Seal``, ``SES_Signature`` and parts).
- :mod:`seal.ses.make`: build a seal (signed by the seal maker) and sign data with it.
- :mod:`seal.ses.verify`: the eight checks of a signature, as a frozen result.
- :mod:`seal.ses.timestamp`: the optional RFC 3161 timestamp over the signature value.
"""
