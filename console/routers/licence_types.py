"""Licence types, as a licence administrator sees them: the list (a page at a time) and one
type with the fields of its JSON Schema, from where a licence of it is issued or existing
licences of it imported. The types are public (``GET /licence-types``); the pages are the
administrator's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from certs.router import licence_service
from console.deps import LicenceAdminViewer, ServicesDep
from console.licence_form import form_fields
from console.pages import render
from console.paging import MAX_PAGE, paginate

router = APIRouter(prefix="/admin/licence-types", include_in_schema=False)

TypeCode = Annotated[str, Path(pattern=r"^[0-9A-Z]{18}[0-9]{3}$")]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]


@router.get("")
def types_page(
    request: Request, viewer: LicenceAdminViewer, services: ServicesDep, page: PageNumber = 1
) -> Response:
    found = licence_service(services).list_types()
    return render(request, "admin_types.html", viewer=viewer, page=paginate(found, page))


@router.get("/{code}")
def type_page(
    code: TypeCode, request: Request, viewer: LicenceAdminViewer, services: ServicesDep
) -> Response:
    licence_type = licence_service(services).get_type(code)
    return render(
        request,
        "admin_type.html",
        viewer=viewer,
        licence_type=licence_type,
        fields=form_fields(licence_type),
    )
