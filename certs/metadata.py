"""The metadata of a licence version in the style of GB/T 36903 (电子证照元数据).

Keys are stable English names; :data:`LABELS` gives the Chinese element names to print or
show. A long-term licence's ``valid_until`` is ``长期``. The holder code is the masked form
unless the caller passes the clear one (for rendering the licence to its holder, say).
"""

from __future__ import annotations

from certs.models import Licence
from certs.types import LicenceType

LONG_TERM = "长期"
LABELS: dict[str, str] = {
    "identifier": "证照标识",
    "licence_number": "证照编号",
    "name": "证照名称",
    "type_name": "证照类型名称",
    "type_code": "证照类型代码",
    "version": "证照版本号",
    "issuer_name": "证照颁发机构",
    "issuer_code": "证照颁发机构代码",
    "issue_date": "证照颁发日期",
    "defining_authority": "证照定义机构",
    "defining_authority_code": "证照定义机构代码",
    "valid_from": "证照有效期起始日期",
    "valid_until": "证照有效期截止日期",
    "holder_name": "持证主体",
    "holder_code": "持证主体代码",
    "holder_code_type": "持证主体代码类型",
}
HOLDER_CODE_TYPE_NAMES = {"111": "公民身份号码", "001": "统一社会信用代码"}


def licence_metadata(
    licence: Licence, licence_type: LicenceType, *, holder_code: str | None = None
) -> dict[str, str]:
    """The GB/T 36903 metadata of ``licence`` (of type ``licence_type``), as text."""
    if licence_type.code != licence.type_code:
        raise ValueError("the licence is not of this type")
    return {
        "identifier": licence.identifier,
        "licence_number": licence.licence_number,
        "name": licence_type.name,
        "type_name": licence_type.name,
        "type_code": licence_type.code,
        "version": f"{licence.version:03d}",
        "issuer_name": licence.issuer_name,
        "issuer_code": licence.issuer_uscc,
        "issue_date": licence.issued_on.isoformat(),
        "defining_authority": licence_type.defining_authority_name,
        "defining_authority_code": licence_type.defining_authority_uscc,
        "valid_from": licence.valid_from.isoformat(),
        "valid_until": LONG_TERM
        if licence.valid_until is None
        else licence.valid_until.isoformat(),
        "holder_name": licence.holder_name,
        "holder_code": licence.holder_code_masked if holder_code is None else holder_code,
        "holder_code_type": licence.holder_code_type,
    }


def mask_name(name: str) -> str:
    """A name shown to whoever scans a licence: 张三 -> 张*, 欧阳娜娜 -> 欧**娜,
    福州示例科技有限公司 -> 福州******公司."""
    text = name.strip()
    if len(text) <= 1:
        return "*"
    if len(text) == 2:
        return text[0] + "*"
    if len(text) <= 5:
        return text[0] + "*" * (len(text) - 2) + text[-1]
    return text[:2] + "*" * (len(text) - 4) + text[-2:]


def shown_holder_name(licence: Licence) -> str:
    """The holder's name as a licence QR carries it: a person's masked (personal data); an
    organisation's in full, as the national enterprise credit register publishes it."""
    return (
        mask_name(licence.holder_name) if licence.holder_code_type == "111" else licence.holder_name
    )
