"""``GET /federation/v1/directory``: the newest signed directory this node holds (the hub: the
one it published). Public: the document is signed, a node verifies it against its anchor."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from docex.api.deps import NodeDep
from docex.api.errors import error_responses
from docex.errors import NotFound
from docex.federation import directory

router = APIRouter(prefix="/federation/v1", tags=["federation"])


@router.get(
    "/directory",
    response_class=Response,
    responses={
        200: {
            "content": {directory.DIRECTORY_MEDIA_TYPE: {}},
            "description": "the directory, a JWS (compact serialization) signed by the hub "
            f"(typ {directory.DIRECTORY_TYPE})",
        },
        **error_responses(404),
    },
)
def get_directory(node: NodeDep) -> Response:
    """The network's signed directory: nodes, agencies and where they are hosted, groups."""
    with node.db.read() as session:
        row = directory.current(session)
        if row is None:
            raise NotFound("this node holds no directory yet", code="directory_not_found")
        document, version = row.document, row.version
    return Response(
        document,
        media_type=directory.DIRECTORY_MEDIA_TYPE,
        headers={"Cache-Control": "no-cache", "ETag": f'"{version}"'},
    )
