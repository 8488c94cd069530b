"""Licences as OFD files (GB/T 33190-2016, 电子文件存储与交换格式 版式文档), sealed with a
GB/T 38540-2020 electronic seal.

- :mod:`certs.ofd.xml`: the OFD namespace, writing and (safely) reading its XML parts.
- :mod:`certs.ofd.package`: the unsigned package of one licence page (OFD.xml, Document.xml,
  resources, the page's Content.xml), from the same page model as the PDF.
- :mod:`certs.ofd.signature`: the seal as an OFD signature (Signatures.xml, Signature.xml,
  SignedValue.dat holding an ``SES_Signature``).
- :mod:`certs.ofd.verify`: validation of a sealed OFD file.
"""
