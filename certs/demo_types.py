"""Demo licence types: 营业执照, 食品经营许可证 (held by organisations) and 导游证 (held by a
person).

The 21-character type codes follow GB/T 36904 (defining ministry's USCC + 3 digits); the
ministries' codes and the 3-digit numbers here are illustrative values with correct check
characters (GB 32100-2015), not the official catalogue. Fields are JSON Schema Draft 2020-12;
the GB/T 36903 metadata (holder, issuer, dates) is kept outside them.
"""

from __future__ import annotations

from typing import Any

from certs.types import SCHEMA_DIALECT, LicenceType

SAMR_NAME = "国家市场监督管理总局"
SAMR_USCC = "11100000MB0143028R"
MCT_NAME = "文化和旅游部"
MCT_USCC = "11100000MB15415868"

BUSINESS_LICENCE = SAMR_USCC + "001"
FOOD_BUSINESS_LICENCE = SAMR_USCC + "002"
TOUR_GUIDE_CARD = MCT_USCC + "001"


def _text(title: str, max_length: int = 200) -> dict[str, Any]:
    return {"type": "string", "title": title, "minLength": 1, "maxLength": max_length}


def _schema(title: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "$schema": SCHEMA_DIALECT,
        "title": title,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _business_licence(seal_id: str | None) -> LicenceType:
    fields = {
        "name": _text("名称"),
        "type": _text("类型", 64),
        "legal_representative": _text("法定代表人", 64),
        "registered_capital": _text("注册资本", 64),
        "established": {"type": "string", "title": "成立日期", "format": "date"},
        "address": _text("住所"),
        "business_scope": _text("经营范围", 4000),
    }
    return LicenceType(
        code=BUSINESS_LICENCE,
        name="营业执照",
        defining_authority_name=SAMR_NAME,
        defining_authority_uscc=SAMR_USCC,
        issuing_level="county",
        fields_schema=_schema("营业执照", fields, list(fields)),
        validity_years=None,
        holder_kind="organisation",
        seal_id=seal_id,
        layout="business-licence",
    )


def _food_business_licence(seal_id: str | None) -> LicenceType:
    fields = {
        "operator": _text("经营者名称"),
        "business_premises": _text("经营场所"),
        "main_business": {
            "type": "string",
            "title": "主体业态",
            "enum": ["食品销售经营者", "餐饮服务经营者", "单位食堂"],
        },
        "business_items": {
            "type": "array",
            "title": "经营项目",
            "items": _text("经营项目", 100),
            "minItems": 1,
            "uniqueItems": True,
        },
    }
    return LicenceType(
        code=FOOD_BUSINESS_LICENCE,
        name="食品经营许可证",
        defining_authority_name=SAMR_NAME,
        defining_authority_uscc=SAMR_USCC,
        issuing_level="county",
        fields_schema=_schema("食品经营许可证", fields, list(fields)),
        validity_years=5,
        holder_kind="organisation",
        seal_id=seal_id,
        layout="food-business-licence",
    )


def _tour_guide_card(seal_id: str | None) -> LicenceType:
    fields = {
        "name": _text("姓名", 64),
        "sex": {"type": "string", "title": "性别", "enum": ["男", "女"]},
        "language": _text("语种", 32),
        "level": {"type": "string", "title": "等级", "enum": ["初级", "中级", "高级", "特级"]},
        "issuing_authority": _text("发证机关"),
        "affiliation": _text("执业单位"),
    }
    return LicenceType(
        code=TOUR_GUIDE_CARD,
        name="导游证",
        defining_authority_name=MCT_NAME,
        defining_authority_uscc=MCT_USCC,
        issuing_level="provincial",
        fields_schema=_schema("导游证", fields, ["name", "sex", "language", "issuing_authority"]),
        validity_years=3,
        holder_kind="person",
        seal_id=seal_id,
        layout="tour-guide-card",
    )


def demo_licence_types(seal_id: str | None = None) -> list[LicenceType]:
    """The demo types, each signed by ``seal_id`` (a seal of ``seal.registry``) if given."""
    return [
        _business_licence(seal_id),
        _food_business_licence(seal_id),
        _tour_guide_card(seal_id),
    ]
