"""Credentials: Open Badges 3.0 shape per kind, validation with clear messages, unguessable ids, batches."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from ledger.errors import MalformedError
from ledger.tlog.canonical import canonical_bytes
from ledger.tlog.timefmt import parse_time
from tests.fixtures_network import FIELDS, TITLES, LedgerFixture
from verifier.credentials import (
    CONTEXTS,
    EXTENSION,
    KINDS,
    build_batch,
    build_credential,
    credential_digest,
    parse_credential,
    rows_from_csv,
)

T = parse_time("2026-03-01T10:00:00Z")


def make(kind: str = "olympiad-diploma", **over):
    args = dict(kind=kind, issuer_id="olymp-1", issuer_name="Центр олимпиад", holder_name="Иванова Мария Петровна",
                title=TITLES.get(kind, "x"), issued_at=T, fields=dict(FIELDS.get(kind, {})))  # fmt: skip
    args.update(over)
    return build_credential(**args)


@pytest.mark.parametrize("kind, achievement_type", [
    ("olympiad-diploma", "Award"), ("participation", "ext:Participation"), ("school-leaving", "SecondarySchoolDiploma"),
    ("teacher-pd", "CertificateOfCompletion"), ("generic", "Achievement"),
])  # fmt: skip
def test_every_kind_is_an_open_badges_credential(kind, achievement_type):
    cred = make(kind)
    assert cred["@context"] == CONTEXTS
    assert cred["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert cred["issuer"] == {"id": "did:web:127.0.0.1%3A8000:institutions:olymp-1", "type": ["Profile"], "name": "Центр олимпиад"}
    assert cred["validFrom"] == "2026-03-01T10:00:00Z" and "validUntil" not in cred
    subject = cred["credentialSubject"]
    assert subject["type"] == ["AchievementSubject"] and subject["name"] == "Иванова Мария Петровна"
    a = subject["achievement"]
    assert a["type"] == ["Achievement"] and a["achievementType"] == achievement_type
    assert a["name"] == TITLES[kind] and a["criteria"]["narrative"] and a["description"]
    assert cred[EXTENSION]["kind"] == kind
    parsed = parse_credential(cred)
    assert (parsed.kind, parsed.institution, parsed.holder_name, parsed.title, parsed.valid_from) == (
        kind, "olymp-1", "Иванова Мария Петровна", TITLES[kind], T)


def test_olympiad_fields_map_to_open_badges_and_the_extension():
    cred = make(fields={**FIELDS["olympiad-diploma"], "degree": 1, "grade": "9", "points": "87.5"})
    a = cred["credentialSubject"]["achievement"]
    aid = a["id"]
    # OB 3.0's own terms first: stage and place as rubric levels the holder's results point at.
    assert cred["credentialSubject"]["result"] == [
        {"type": ["Result"], "resultDescription": f"{aid}:stage", "achievedLevel": f"{aid}:stage:regional"},
        {"type": ["Result"], "resultDescription": f"{aid}:place", "achievedLevel": f"{aid}:place:1", "value": "1"},
    ]
    stage, place = a["resultDescription"]
    assert (stage["resultType"], place["resultType"]) == ("RubricCriterionLevel", "RubricCriterionLevel")
    assert {lvl["id"] for lvl in place["rubricCriterionLevel"]} >= {f"{aid}:place:1", f"{aid}:place:winner"}
    assert f"{aid}:stage:regional" in {lvl["id"] for lvl in stage["rubricCriterionLevel"]}
    assert a["fieldOfStudy"] == "физика" and a["tag"] == ["физика", "региональный этап"]
    ext = cred[EXTENSION]
    assert (ext["stage"], ext["organiser"], ext["degree"], ext["grade"], ext["points"]) == ("regional", "Центр олимпиад", "1", 9, 87.5)


def test_teacher_pd_dates_become_activity_dates():
    cred = make("teacher-pd")
    s = cred["credentialSubject"]
    assert (s["activityStartDate"], s["activityEndDate"]) == ("2026-02-01T00:00:00Z", "2026-02-20T00:00:00Z")
    assert s["creditsEarned"] == s["achievement"]["creditsAvailable"] == 72 and s["achievement"]["fieldOfStudy"] == "Цифровая дидактика"
    assert cred[EXTENSION]["hours"] == 72 and cred[EXTENSION]["provider"] == "ИПК"


@pytest.mark.parametrize("kind", [k for k in KINDS if KINDS[k].required])
def test_each_required_field_is_named_when_missing(kind):
    for name in KINDS[kind].required:
        fields = {k: v for k, v in FIELDS[kind].items() if k != name}
        with pytest.raises(MalformedError, match=f"a {kind} credential needs: {name}"):
            make(kind, fields=fields)


@pytest.mark.parametrize("kind, fields, words", [
    ("olympiad-diploma", {"stage": "galactic"}, "stage must be one of"),
    ("olympiad-diploma", {"place": "7"}, "place must be one of"),
    ("olympiad-diploma", {"degree": "4"}, "degree must be one of"),
    ("olympiad-diploma", {"grade": 13}, "grade must be a school grade"),
    ("olympiad-diploma", {"points": -1}, "points"),
    ("olympiad-diploma", {"event": ""}, "needs: event"),
    ("olympiad-diploma", {"event": "x" * 301}, "event must be a non-empty text"),
    ("olympiad-diploma", {"prize": "car"}, "unknown field"),
    ("teacher-pd", {"hours": 0}, "hours must be a whole number"),
    ("teacher-pd", {"hours": "seventy"}, "hours must be a whole number"),
    ("teacher-pd", {"hours": True}, "hours must be a whole number"),
    ("teacher-pd", {"start": "2026-02-30"}, "not a real date"),
    ("teacher-pd", {"end": "01.02.2026"}, "YYYY-MM-DD"),
    ("teacher-pd", {"start": "2026-03-01", "end": "2026-02-01"}, "cannot end before it starts"),
    ("school-leaving", {"year": 1900}, "year must be a year"),
    ("school-leaving", {"honours": "maybe"}, "honours must be true or false"),
    ("school-leaving", {"grades": {}}, "grades must be an object"),
    ("generic", {"achievementType": "Trophy"}, "achievement type"),
])  # fmt: skip
def test_bad_field_values_are_refused_with_the_reason(kind, fields, words):
    with pytest.raises(MalformedError, match=words):
        make(kind, fields={**FIELDS[kind], **fields})


def test_generic_kind_takes_an_open_badges_or_extension_achievement_type():
    assert make("generic", fields={"achievementType": "Badge"})["credentialSubject"]["achievement"]["achievementType"] == "Badge"
    assert make("generic", fields={"achievementType": "ext:Hackathon"})["credentialSubject"]["achievement"]["achievementType"] == "ext:Hackathon"


def test_other_bad_inputs_are_refused():
    with pytest.raises(MalformedError, match="unknown credential kind"):
        make("medal")
    with pytest.raises(MalformedError, match="issuer id"):
        make(issuer_id="Olymp Centre")
    with pytest.raises(MalformedError, match="holder name"):
        make(holder_name="  ")
    with pytest.raises(MalformedError, match="validUntil must be after"):
        make(valid_until=T)
    with pytest.raises(MalformedError, match="achieved_on"):
        make("generic", achieved_on="yesterday")


def test_the_id_carries_128_random_bits_from_the_injected_source():
    cred = make(random=lambda n: bytes(range(n)))
    assert cred["id"] == "urn:eduledger:credential:000102030405060708090a0b0c0d0e0f"
    a, b = make(), make()
    assert a["id"] != b["id"] and credential_digest(a) != credential_digest(b)  # same person, same diploma: different digests
    with pytest.raises(ValueError):
        make(random=lambda n: b"short")


def test_the_digest_is_sha256_of_the_rfc8785_form_whatever_the_spelling():
    cred = make()
    assert credential_digest(cred) == hashlib.sha256(canonical_bytes(cred)).digest()
    respelled = json.loads(json.dumps(dict(reversed(list(cred.items()))), indent=3, ensure_ascii=True))
    assert credential_digest(respelled) == credential_digest(cred)


def test_nothing_personal_goes_on_the_ledger():
    net = LedgerFixture()
    cred = net.credential(holder_name="Уникальное Имя Держателя", holder_id="student-4711")
    leaf = net.datas[net.issue(cred)]
    assert "Уникальное".encode() not in leaf and b"4711" not in leaf and cred["id"].encode() not in leaf
    assert json.loads(leaf)["body"].keys() == {"digest", "type", "issued_at"}


@pytest.mark.parametrize("mutate, words", [
    (lambda c: c.__setitem__("@context", CONTEXTS[1:]), "@context"),
    (lambda c: c.__setitem__("type", ["VerifiableCredential"]), "OpenBadgeCredential"),
    (lambda c: c.__setitem__("id", "urn:eduledger:credential:1234"), "128 random bits"),
    (lambda c: c["issuer"].__setitem__("id", "https://example.org/issuer"), "issuer.id"),
    (lambda c: c["issuer"].__setitem__("type", ["Organization"]), "issuer.type"),
    (lambda c: c.__setitem__("validFrom", "2026-03-01T10:00:00.5+03:00"), "validFrom"),
    (lambda c: c.__setitem__("validUntil", "2020-01-01T00:00:00Z"), "validUntil must be after"),
    (lambda c: c["credentialSubject"].pop("name"), "credentialSubject.name"),
    (lambda c: c["credentialSubject"]["achievement"].__setitem__("type", "Badge"), "achievement.type"),
    (lambda c: c["credentialSubject"].__setitem__("achievement", []), "achievement must be an object"),
    (lambda c: c[EXTENSION].__setitem__("kind", "medal"), "kind must be one of"),
    (lambda c: c[EXTENSION].__setitem__("kind", ["olympiad-diploma"]), "kind must be one of"),
    (lambda c: c[EXTENSION].__setitem__("place", 1), "normal form"),
    (lambda c: c[EXTENSION].pop("organiser"), "needs: organiser"),
])  # fmt: skip
def test_the_parser_refuses_what_the_builder_would_not_make(mutate, words):
    cred = make()
    mutate(cred)
    with pytest.raises(MalformedError, match=words):
        parse_credential(cred)


def test_a_credential_from_the_e_portfolio_is_a_generic_one_with_its_ob3_achievement_type():
    from portfolio_api.services.credentials import build_credential as portfolio_build

    cred = portfolio_build(institution_id="olymp-centre", institution_name="Центр", holder_name="Мария", holder_email="maria@school.example",
                           kind="olympiad", title="Победитель", description="", achieved_on="2026-02-01", issued_at=T,
                           credential_id="0f8fad5b-d9cb-469f-a165-70867728950e", network_url="https://edu.example.ru",
                           evidence_sha256="ab" * 32)  # fmt: skip
    parsed = parse_credential(cred)
    assert (parsed.kind, parsed.institution, parsed.holder_name) == ("generic", "olymp-centre", "Мария")
    assert cred["id"] == "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e" and cred["issuer"]["id"] == "did:web:edu.example.ru:institutions:olymp-centre"
    assert cred["credentialSubject"]["achievement"]["achievementType"] == "Award" and cred["evidence"][0]["description"] == "sha256:" + "ab" * 32
    assert parsed.holder_identities[0].identity_type == "emailAddress"


def test_a_credential_the_e_portfolio_issued_before_still_parses_as_generic():
    cred = make("generic")
    cred["id"] = "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e"
    cred["issuer"]["id"] = "urn:eduledger:demo.eduledger.example/network:olymp-centre"
    cred["credentialSubject"]["achievement"]["achievementType"] = "olympiad"  # what the e-portfolio wrote then
    del cred["eduledgerExtension"]
    cred["@context"] = cred["@context"][:2]
    parsed = parse_credential(cred)
    assert (parsed.kind, parsed.institution) == ("generic", "olymp-centre")


def test_a_batch_is_all_or_reported():
    rows = [
        {"holder_name": "Иванова Мария", "title": "Диплом", **FIELDS["olympiad-diploma"]},
        {"holder_name": "Петров Пётр", "title": "Диплом", **{**FIELDS["olympiad-diploma"], "stage": "galactic"}},
        {"holder_name": "", "title": "Диплом", **FIELDS["olympiad-diploma"]},
        {"holder_name": "Сидорова Анна", "title": "Диплом", "valid_until": "2030-01-01T00:00:00Z", **FIELDS["olympiad-diploma"]},
    ]
    result = build_batch("olympiad-diploma", rows, issuer_id="olymp-1", issuer_name="Центр", issued_at=T)
    assert [n for n, _ in result.built] == [1, 4] and not result.complete
    assert [(n, "stage" in why or "holder name" in why) for n, why in result.refused] == [(2, True), (3, True)]
    assert result.built[1][1]["validUntil"] == "2030-01-01T00:00:00Z"


def test_a_csv_batch_converts_cells_and_reports_row_numbers():
    text = "holder_name,title,programme,hours,start,end,provider\n" \
           "Анна Кузнецова,Удостоверение,Цифровая дидактика,72,2026-02-01,2026-02-20,ИПК\n" \
           "Борис Волков,Удостоверение,Цифровая дидактика,много,2026-02-01,2026-02-20,ИПК\n"  # fmt: skip
    result = build_batch("teacher-pd", rows_from_csv(text), issuer_id="ipk-1", issuer_name="ИПК", issued_at=T)
    assert len(result.built) == 1 and result.built[0][1][EXTENSION]["hours"] == 72
    assert result.refused[0][0] == 2 and "hours" in result.refused[0][1]
    with pytest.raises(MalformedError, match="header"):
        rows_from_csv("name,title\nx,y\n")
    with pytest.raises(MalformedError, match="more cells"):
        rows_from_csv("holder_name,title\nx,y,z\n")


def test_a_ten_thousand_row_batch_builds_quickly_with_progress():
    rows = [{"holder_name": f"Участник {i:05d}", "title": "Сертификат участника", **FIELDS["participation"]} for i in range(10_000)]
    seen: list[int] = []
    started = time.perf_counter()
    result = build_batch("participation", rows, issuer_id="olymp-1", issuer_name="Центр", issued_at=T, progress=seen.append)
    assert result.complete and len(result.built) == 10_000 and seen[-1] == 10_000
    assert len({c["id"] for _, c in result.built}) == 10_000
    assert time.perf_counter() - started < 10
