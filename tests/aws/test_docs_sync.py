"""The ``docs-sync`` function end to end: the handler in-process on DynamoDB Local and moto
(S3, SES, SSM, Secrets Manager) against the drive Drive API and token endpoint on 127.0.0.1. A
good revision becomes a new object version of the docs bucket credited to its author; a bad
one is refused (the owners emailed through SES with the line number, the ``DocRejected``
metric counted) while the last good version keeps serving; an unchanged one costs one
metadata call per Doc and no S3 write."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from cart_recovery.domain.rules import parse_rules
from cart_recovery.lambdas import docs_sync
from tests.aws.services import client, unique
from tests.aws.world import World, body_text, world
from tests.fakes.drive_api import FakeDrive
from tests.fakes.drive_fixtures import RULES_ID, VOICE_ID
from tests.integration.test_drive_sync import BAD, SLOW
from tests.integration.test_sheets import CLIENT_EMAIL, pem

pytestmark = pytest.mark.aws

T0 = datetime(2026, 5, 12, 14, 0, tzinfo=UTC)
OWNER = "owner@example.com"  # the world's owner_emails parameter


@pytest.fixture
def w(
    moto_server: str, dynamodb_local: str, drive: FakeDrive, drive_key: rsa.RSAPrivateKey
) -> Iterator[World]:
    secret_id = f"{unique('drive')}/drive/sa"
    key = {
        "type": "service_account",
        "project_id": "cart-recovery-test",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": pem(drive_key),
        "client_email": CLIENT_EMAIL,
        "token_uri": drive.token_uri,
    }
    client("secretsmanager", moto_server).create_secret(
        Name=secret_id, SecretString=json.dumps(key)
    )
    extra = {"CR_SHEETS_SECRET_ID": secret_id, "CR_GOOGLE_API_ROOT": drive.base_url}
    with world(moto_server, dynamodb_local, T0, extra_env=extra) as made:
        ssm = client("ssm", moto_server)
        path = made.environ["CR_CONFIG_PATH"]
        for name, value in (("google_docs_rules_id", RULES_ID), ("google_docs_voice_id", VOICE_ID)):
            ssm.put_parameter(Name=f"{path}{name}", Value=value, Type="String")
        yield made


def rules_versions(w: World) -> list[dict[str, Any]]:
    s3 = client("s3", w.moto)
    bucket = w.environ["CR_RULES_BUCKET"]
    listing = s3.list_object_versions(Bucket=bucket, Prefix="rules.txt")
    return [v for v in listing.get("Versions", []) if v["Key"] == "rules.txt"]


def emf_lines(out: str) -> list[dict[str, Any]]:
    """The DocRejected Embedded Metric Format lines written to stdout."""
    docs = [json.loads(line) for line in out.splitlines() if line.startswith('{"')]
    return [d for d in docs if "_aws" in d and "DocRejected" in d]


def test_a_good_revision_becomes_a_new_object_version_credited_to_its_author(
    w: World, drive: FakeDrive
) -> None:
    # Given the Docs followed once, then the rules Doc edited by Bob
    docs_sync.handler({}, None)
    before = rules_versions(w)
    drive.docs[RULES_ID].edit(SLOW, by="Bob Editor")
    drive.calls.clear()

    # When the schedule fires the function
    answer = docs_sync.handler({}, None)

    # Then the rules are a new object version of the bucket, credited to Bob, and serve
    assert answer == {"configured": True, "unchanged": 1, "applied": 1, "refused": 0, "failed": 0}
    assert len(rules_versions(w)) == len(before) + 1
    current = w.app.service.doc_history("rules")[0].version
    assert (current.text, current.by, current.source) == (SLOW, "Bob Editor", "drive")
    assert current.note == "Google Doc revision v2"
    w.app.begin()
    assert w.app.docs.rules() == parse_rules(SLOW)
    assert drive.calls == [f"get {RULES_ID}", f"export {RULES_ID}", f"get {VOICE_ID}"]
    assert w.mail_to(OWNER) == []


def test_a_bad_revision_is_refused_the_owners_emailed_and_the_last_good_version_kept(
    w: World, drive: FakeDrive, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a good revision applied, then a bad one written over it
    docs_sync.handler({}, None)
    drive.docs[RULES_ID].edit(SLOW, by="Bob Editor")
    docs_sync.handler({}, None)
    versions = len(rules_versions(w))
    drive.docs[RULES_ID].edit(BAD, by="Cy Typo")
    capsys.readouterr()

    # When the function runs, twice
    first = docs_sync.handler({}, None)
    again = docs_sync.handler({}, None)

    # Then the revision is refused once: nothing written to the bucket
    assert (first["refused"], again["refused"], again["unchanged"]) == (1, 0, 2)
    assert len(rules_versions(w)) == versions
    # and the owners got one email through SES naming the line
    (mail,) = w.mail_to(OWNER)
    body = body_text(mail)
    bad_line = BAD.splitlines().index("Quiet hours: whenever.") + 1
    assert f"line {bad_line}:" in body
    assert "by Cy Typo" in body
    assert f"https://docs.google.com/document/d/{RULES_ID}/edit" in body
    # and the DocRejected metric was counted once, for the rules
    (emf,) = emf_lines(capsys.readouterr().out)
    assert (emf["Doc"], emf["DocRejected"]) == ("rules", 1)
    # and the last good version keeps serving
    w.app.begin()
    assert w.app.docs.rules() == parse_rules(SLOW)
    assert w.app.service.doc_history("rules")[0].version.text == SLOW


def test_an_unchanged_revision_costs_one_metadata_call_and_no_s3_write(
    w: World, drive: FakeDrive
) -> None:
    # Given the Docs followed once
    docs_sync.handler({}, None)
    versions = len(rules_versions(w))
    drive.calls.clear()

    # When the function runs again with no edit in Drive
    answer = docs_sync.handler({}, None)

    # Then each Doc cost one metadata call and the bucket has no new version
    assert answer == {"configured": True, "unchanged": 2, "applied": 0, "refused": 0, "failed": 0}
    assert drive.calls == [f"get {RULES_ID}", f"get {VOICE_ID}"]
    assert len(rules_versions(w)) == versions


def test_without_the_doc_ids_the_function_does_nothing(
    moto_server: str, dynamodb_local: str
) -> None:
    with world(moto_server, dynamodb_local, T0):
        assert docs_sync.handler({}, None) == {"configured": False}
