"""The agency registry: listing and searching the directory, admin changes, succession, groups,
and what counts as an agency code."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from docex.agencies.codes import is_valid_code
from docex.kit.pagination import encode_cursor
from tests.helpers import A01, C1, C2, G22, H26, H41, I01, audit_events, auth

AGENCIES = "/api/v1/agencies"
DEMO = sorted([G22, I01, A01, H41, H26, C1, C2])
NEW = {"id": "000.00.00.G13", "name": "Bộ Nội vụ", "kind": "state"}


def listed(client: TestClient, headers: dict[str, str], **params: Any) -> list[str]:
    response = client.get(AGENCIES, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [a["id"] for a in response.json()["items"]]


# -- reading the directory -----------------------------------------------------------------------


def test_directory_lists_every_demo_agency_in_code_order(
    client: TestClient, credentials: dict
) -> None:
    response = client.get(AGENCIES, headers=auth(credentials, H41))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [a["id"] for a in body["items"]] == DEMO
    assert body["next_cursor"] is None
    commune = next(a for a in body["items"] if a["id"] == C1)
    # Every hosted agency publishes its encryption key (classified items are wrapped for it).
    assert commune.pop("encryption_key").startswith("-----BEGIN PUBLIC KEY-----")
    assert commune == {
        "id": C1,
        "name": "Ủy ban nhân dân xã Diễn Châu",
        "kind": "state",
        "parent_id": H41,
        "node_id": "test-node",
        "status": "active",
        "successor_id": None,
    }


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("H41", [H41, C1, C2]),
        ("Nghệ An", [H41]),
        ("nghệ an", [H41]),
        ("NGHỆ AN", [H41]),
        ("Mặt trận", [I01]),
        ("xã", [C1, C2]),
        ("000.00.00.G22", [G22]),
        ("không có", []),
    ],
    ids=[
        "code-part",
        "name",
        "name-lowercase",
        "name-uppercase",
        "name-words",
        "commune",
        "full-code",
        "nothing",
    ],
)
def test_directory_search_matches_code_or_name_ignoring_case(
    client: TestClient, credentials: dict, q: str, expected: list[str]
) -> None:
    assert listed(client, auth(credentials, G22), q=q) == expected


def test_directory_filters_by_parent(client: TestClient, credentials: dict) -> None:
    assert listed(client, auth(credentials, G22), parent=H41) == [C1, C2]
    assert listed(client, auth(credentials, G22), parent=G22) == []


@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_directory_pages_without_duplicates_or_gaps(
    client: TestClient, credentials: dict, limit: int
) -> None:
    headers = auth(credentials, "auditor")
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        body = client.get(AGENCIES, params=params, headers=headers).json()
        assert len(body["items"]) <= limit
        seen += [a["id"] for a in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == DEMO


def test_one_agency_is_read_by_its_code(client: TestClient, credentials: dict) -> None:
    response = client.get(f"{AGENCIES}/{G22}", headers=auth(credentials, H26, "system"))
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Văn phòng Chính phủ"
    assert response.json()["kind"] == "state"
    assert response.json()["parent_id"] is None


@pytest.mark.parametrize(
    "code", ["000.00.00.G99", "not-a-code", "000.00.00.\u041d41", "000.00.00.G22%00"]
)
def test_unknown_agency_is_404_agency_not_found(
    client: TestClient, credentials: dict, code: str
) -> None:
    response = client.get(f"{AGENCIES}/{code}", headers=auth(credentials, G22))
    assert (response.status_code, response.json()["error"]) == (404, "agency_not_found")


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not a cursor!"},
        {"cursor": encode_cursor(1)},
        {"cursor": encode_cursor("000.00.00.A01\x00")},
    ],
    ids=["garbage", "number-inside", "nul-inside"],
)
def test_invalid_directory_cursor_is_400_invalid_cursor(
    client: TestClient, credentials: dict, params: dict[str, str]
) -> None:
    response = client.get(AGENCIES, params=params, headers=auth(credentials, G22))
    assert (response.status_code, response.json()["error"]) == (400, "invalid_cursor")


def test_directory_needs_a_token(client: TestClient) -> None:
    response = client.get(AGENCIES)
    assert (response.status_code, response.json()["error"]) == (401, "missing_token")


# -- admin changes -------------------------------------------------------------------------------


def test_admin_adds_an_agency(client: TestClient, credentials: dict) -> None:
    response = client.post(
        AGENCIES, json={**NEW, "parent_id": None}, headers=auth(credentials, "admin")
    )
    assert response.status_code == 201, response.text
    created_agency = response.json()
    # Hosted here: it gets a custodial key pair at once and publishes the public half.
    assert created_agency.pop("encryption_key").startswith("-----BEGIN PUBLIC KEY-----")
    assert created_agency == {
        **NEW,
        "parent_id": None,
        "node_id": "test-node",
        "status": "active",
        "successor_id": None,
    }
    assert client.get(f"{AGENCIES}/{NEW['id']}", headers=auth(credentials, G22)).status_code == 200
    created = audit_events(client, "registry:agency:created")[-1]
    assert created.agency_id == NEW["id"]


@pytest.mark.parametrize(
    ("who", "role"), [(G22, "clerk"), (G22, "leader"), (G22, "system"), ("auditor", "auditor")]
)
def test_only_the_admin_adds_or_changes_agencies(
    client: TestClient, credentials: dict, who: str, role: str
) -> None:
    headers = auth(credentials, who, role)
    created = client.post(AGENCIES, json=NEW, headers=headers)
    assert (created.status_code, created.json()["error"]) == (403, "forbidden")
    changed = client.patch(f"{AGENCIES}/{H26}", json={"status": "retired"}, headers=headers)
    assert (changed.status_code, changed.json()["error"]) == (403, "forbidden")
    assert client.get(f"{AGENCIES}/{NEW['id']}", headers=headers).status_code == 404
    assert client.get(f"{AGENCIES}/{H26}", headers=headers).json()["status"] == "active"


@pytest.mark.parametrize(
    "code",
    [
        "G13",
        "000.00.00.g13",
        "000.00.00.\u041d13",
        "\uff10\uff10\uff10.00.00.G13",
        "000.00.00.G13 ",
        "../x",
        "",
    ],
    ids=["short", "lowercase", "cyrillic", "fullwidth", "trailing-space", "path", "empty"],
)
def test_adding_an_agency_with_an_invalid_code_is_422_invalid_agency_code(
    client: TestClient, credentials: dict, code: str
) -> None:
    response = client.post(AGENCIES, json={**NEW, "id": code}, headers=auth(credentials, "admin"))
    assert (response.status_code, response.json()["error"]) == (422, "invalid_agency_code")


@pytest.mark.parametrize("name", ["Bộ\x00 Nội vụ", "", "x" * 301], ids=["nul", "empty", "long"])
def test_adding_an_agency_with_an_unusable_name_is_422_invalid_agency_name(
    client: TestClient, credentials: dict, name: str
) -> None:
    response = client.post(AGENCIES, json={**NEW, "name": name}, headers=auth(credentials, "admin"))
    assert (response.status_code, response.json()["error"]) == (422, "invalid_agency_name")
    assert client.get(f"{AGENCIES}/{NEW['id']}", headers=auth(credentials, G22)).status_code == 404


def test_adding_an_existing_agency_is_409_agency_exists(
    client: TestClient, credentials: dict
) -> None:
    response = client.post(
        AGENCIES, json={**NEW, "id": G22, "name": "Khác"}, headers=auth(credentials, "admin")
    )
    assert (response.status_code, response.json()["error"]) == (409, "agency_exists")
    assert client.get(f"{AGENCIES}/{G22}", headers=auth(credentials, G22)).json()["name"] == (
        "Văn phòng Chính phủ"
    )


def test_admin_retires_an_agency_with_a_successor(client: TestClient, credentials: dict) -> None:
    response = client.patch(
        f"{AGENCIES}/{H26}",
        json={"status": "retired", "successor_id": H41},
        headers=auth(credentials, "admin"),
    )
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["successor_id"]) == ("retired", H41)
    stored = client.get(f"{AGENCIES}/{H26}", headers=auth(credentials, G22)).json()
    assert (stored["status"], stored["successor_id"]) == ("retired", H41)
    updated = audit_events(client, "registry:agency:updated")[-1]
    assert updated.detail == {"status": "retired", "successor_id": H41}


def test_succession_cycle_is_422_invalid_successor_and_changes_nothing(
    client: TestClient, credentials: dict
) -> None:
    admin = auth(credentials, "admin")
    first = client.patch(
        f"{AGENCIES}/{H26}", json={"status": "retired", "successor_id": H41}, headers=admin
    )
    assert first.status_code == 200, first.text
    loop = client.patch(
        f"{AGENCIES}/{H41}", json={"status": "retired", "successor_id": H26}, headers=admin
    )
    assert (loop.status_code, loop.json()["error"]) == (422, "invalid_successor")
    h41 = client.get(f"{AGENCIES}/{H41}", headers=admin).json()
    assert (h41["status"], h41["successor_id"]) == ("active", None)


def test_three_agency_succession_cycle_closed_by_the_last_retirement_is_refused(
    client: TestClient, credentials: dict
) -> None:
    admin = auth(credentials, "admin")
    for code, successor in ((H26, H41), (H41, I01)):
        named = client.patch(f"{AGENCIES}/{code}", json={"successor_id": successor}, headers=admin)
        assert named.status_code == 200, named.text
    retired = client.patch(f"{AGENCIES}/{H26}", json={"status": "retired"}, headers=admin)
    assert retired.status_code == 200, retired.text
    closing = client.patch(f"{AGENCIES}/{I01}", json={"successor_id": H26}, headers=admin)
    assert closing.status_code == 200, closing.text  # I01 still active: no loop yet
    chain = client.patch(f"{AGENCIES}/{H41}", json={"status": "retired"}, headers=admin)
    assert chain.status_code == 200, chain.text  # H41 → I01, which is active
    loop = client.patch(f"{AGENCIES}/{I01}", json={"status": "retired"}, headers=admin)
    assert (loop.status_code, loop.json()["error"]) == (422, "invalid_successor")
    assert client.get(f"{AGENCIES}/{I01}", headers=admin).json()["status"] == "active"


def test_agency_cannot_succeed_itself(client: TestClient, credentials: dict) -> None:
    response = client.patch(
        f"{AGENCIES}/{H26}",
        json={"status": "retired", "successor_id": H26},
        headers=auth(credentials, "admin"),
    )
    assert (response.status_code, response.json()["error"]) == (422, "invalid_successor")


def test_successor_retired_without_a_successor_of_its_own_is_422_invalid_successor(
    client: TestClient, credentials: dict
) -> None:
    admin = auth(credentials, "admin")
    added = client.post(AGENCIES, json=NEW, headers=admin)  # in no group, no mail: may close
    assert added.status_code == 201, added.text
    dead_end = client.patch(f"{AGENCIES}/{NEW['id']}", json={"status": "retired"}, headers=admin)
    assert dead_end.status_code == 200, dead_end.text
    response = client.patch(
        f"{AGENCIES}/{H26}", json={"status": "retired", "successor_id": NEW["id"]}, headers=admin
    )
    assert (response.status_code, response.json()["error"]) == (422, "invalid_successor")


def test_rename_with_a_nul_byte_is_refused_and_never_answered_200_unstored(
    client: TestClient, credentials: dict
) -> None:
    admin = auth(credentials, "admin")
    response = client.patch(f"{AGENCIES}/{H26}", json={"name": "Hà\x00 Nội"}, headers=admin)
    stored = client.get(f"{AGENCIES}/{H26}", headers=admin).json()
    if response.status_code == 200:
        assert stored["name"] == response.json()["name"], "answered 200, change not committed"
    assert (response.status_code, response.json()["error"]) == (422, "invalid_agency_name")
    assert stored["name"] == "Ủy ban nhân dân thành phố Hà Nội"


def test_changing_an_unknown_agency_is_404(client: TestClient, credentials: dict) -> None:
    response = client.patch(
        f"{AGENCIES}/000.00.00.G99", json={"name": "x"}, headers=auth(credentials, "admin")
    )
    assert (response.status_code, response.json()["error"]) == (404, "agency_not_found")


# -- groups --------------------------------------------------------------------------------------


def test_groups_list_the_provinces_with_their_two_members(
    client: TestClient, credentials: dict
) -> None:
    response = client.get("/api/v1/groups", headers=auth(credentials, C1))
    assert response.status_code == 200, response.text
    groups = {g["name"]: g for g in response.json()["items"]}
    assert groups["provinces"]["members"] == sorted([H26, H41])
    assert groups["provinces"]["description"]
    assert groups["nghean-communes"]["members"] == [C1, C2]
    assert [g["name"] for g in response.json()["items"]] == sorted(groups)


# -- what an agency code is ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", ["000.00.00.G22", "002.00.20.H13", "28.22.H17", "000.00.00.I01", "001.00.41.H41"]
)
def test_real_agency_codes_are_valid(code: str) -> None:
    assert is_valid_code(code)


@pytest.mark.parametrize(
    "code",
    [
        "G22",
        "000.00.00.g22",
        "000.00.00.G\u0032\u0032\u200b",  # zero-width space
        "000.00.00.\u041d41",  # Cyrillic Н
        "000.00.00.\u0413\u0032\u0032",  # Cyrillic Г
        "\uff10\uff10\uff10.00.00.G22",  # full-width digits
        "000.00.00.G\u0662\u0662",  # Arabic-Indic digits
        "000.00.00.G22 ",
        " 000.00.00.G22",
        "000.00.00.G22\n",
        "../x",
        "000/00/00/G22",
        "000.00.00.G2",
        "000.00.00.G222",
        "000.00.00.00.G22",
        "",
    ],
    ids=[
        "no-dotted-parts",
        "lowercase",
        "zero-width-space",
        "cyrillic-en",
        "cyrillic-ghe",
        "fullwidth-digits",
        "arabic-indic-digits",
        "trailing-space",
        "leading-space",
        "trailing-newline",
        "path",
        "slashes",
        "one-digit",
        "three-digits",
        "five-parts",
        "empty",
    ],
)
def test_malformed_or_look_alike_agency_codes_are_invalid(code: str) -> None:
    assert not is_valid_code(code)
