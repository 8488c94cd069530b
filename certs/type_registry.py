"""Registering and reading licence types (code after GB/T 36904, fields as JSON Schema
Draft 2020-12, validity, holder kind, signing seal, layout). Registration is audited."""

from __future__ import annotations

from certs.errors import LicenceTypeExists
from certs.queries import LicenceReads
from certs.type_storage import LicenceTypeRow
from certs.types import LicenceType, check_licence_type
from core.audit.entry import AuditEvent
from core.db.engine import transaction


class LicenceTypeRegistry(LicenceReads):
    def register_type(self, licence_type: LicenceType, actor: str) -> LicenceType:
        """Add a type after checking it (422); a second type with the same code is 409."""
        check_licence_type(licence_type)
        with transaction(self.sessions) as session:
            if self.types.type_row(session, licence_type.code) is not None:
                raise LicenceTypeExists()
            session.add(LicenceTypeRow.from_type(licence_type, self.clock()))
            session.flush()
            self.audit.record(
                session,
                AuditEvent(
                    actor=actor,
                    action="licence_type.registered",
                    object_type="licence_type",
                    object_id=licence_type.code,
                    details={
                        "name": licence_type.name,
                        "holder_kind": licence_type.holder_kind,
                        "validity_years": licence_type.validity_years,
                        "seal_id": licence_type.seal_id,
                        "layout": licence_type.layout,
                    },
                ),
            )
        return licence_type

    def get_type(self, code: str) -> LicenceType:
        with self.sessions() as session:
            return self._type(session, code)

    def list_types(self) -> list[LicenceType]:
        with self.sessions() as session:
            return self.types.types(session)
