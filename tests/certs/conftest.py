"""Fixtures for the licence tests: a licence service with the demo types on the chosen
backend (``services`` of ``tests/conftest.py``: SQLite and PostgreSQL), on the frozen clock,
and helpers to issue licences and read the audit trail and the raw tables."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import text

from certs.demo_types import BUSINESS_LICENCE, FOOD_BUSINESS_LICENCE, TOUR_GUIDE_CARD
from certs.demo_types import demo_licence_types as demo_types
from certs.models import Licence
from certs.service import LicenceService
from core.audit.entry import AuditEntry, parse_entry
from core.services import Services
from tests.conftest import FrozenClock

ISSUER = "11220000013544541J"  # the issuer of REFERENCE.md's real licence identifier
ISSUER_NAME = "吉林省市场监督管理厅"
OTHER_ISSUER = "11220000MB0000001R"  # same administrative division (220000)
COMPANY_USCC = "91350100M000100Y43"  # REFERENCE.md worked example
PERSON_ID = "11010519491231002X"  # REFERENCE.md worked example (GB 11643)
ADMIN = "admin-7f3a"

BUSINESS_FIELDS: dict[str, Any] = {
    "name": "长春示例科技有限公司",
    "type": "有限责任公司",
    "legal_representative": "张三",
    "registered_capital": "伍佰万元整",
    "established": "2020-05-01",
    "address": "吉林省长春市南关区人民大街1号",
    "business_scope": "软件开发；信息技术咨询服务",
}
FOOD_FIELDS: dict[str, Any] = {
    "operator": "长春示例餐饮有限公司",
    "business_premises": "吉林省长春市朝阳区西安大路2号",
    "main_business": "餐饮服务经营者",
    "business_items": ["热食类食品制售", "冷食类食品制售"],
}
GUIDE_FIELDS: dict[str, Any] = {
    "name": "李四",
    "sex": "女",
    "language": "英语",
    "level": "中级",
    "issuing_authority": "吉林省文化和旅游厅",
}


@pytest.fixture
def licences(services: Services, clock: FrozenClock) -> LicenceService:
    service = LicenceService(services.sessions, services.identifiers, services.audit, clock)
    for licence_type in demo_types(seal_id="seal-demo-1"):
        service.register_type(licence_type, ADMIN)
    return service


def issue_business(service: LicenceService, issuer: str = ISSUER) -> Licence:
    return service.issue(
        BUSINESS_LICENCE,
        issuer,
        ISSUER_NAME,
        BUSINESS_FIELDS["name"],
        COMPANY_USCC,
        BUSINESS_FIELDS,
        date(2026, 11, 27),
        ADMIN,
    )


def issue_food(service: LicenceService) -> Licence:
    return service.issue(
        FOOD_BUSINESS_LICENCE,
        ISSUER,
        ISSUER_NAME,
        FOOD_FIELDS["operator"],
        COMPANY_USCC,
        FOOD_FIELDS,
        date(2026, 11, 27),
        ADMIN,
    )


def issue_guide(service: LicenceService) -> Licence:
    return service.issue(
        TOUR_GUIDE_CARD,
        ISSUER,
        "吉林省文化和旅游厅",
        "李四",
        PERSON_ID,
        GUIDE_FIELDS,
        date(2026, 11, 27),
        ADMIN,
    )


def audit_entries(services: Services) -> list[AuditEntry]:
    with services.sessions() as session:
        return [parse_entry(stored.entry) for stored in services.audit.store.entries(session)]


def licence_audit(services: Services, identifier: str) -> list[AuditEntry]:
    return [e for e in audit_entries(services) if e.event.object_id == identifier]


def table_counts(services: Services) -> dict[str, int]:
    """Rows in every licence table and the audit trail (to show that nothing was written)."""
    tables = ["licences", "licence_events", "licence_prints", "audit_entries"]
    with services.sessions() as session:
        return {
            t: int(session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables
        }
