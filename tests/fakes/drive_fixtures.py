"""The fake Drive API as pytest fixtures: ``drive_key`` (the service account's RSA key),
``drive_server`` (the fake on 127.0.0.1, one per module) and ``drive`` (that fake, started over
with the two default Docs for each test). tests/conftest.py makes them available everywhere."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from cart_recovery.domain.rules import DEFAULT_RULES_TEXT
from cart_recovery.domain.voice import DEFAULT_VOICE_TEXT
from tests.fakes.drive_api import FakeDrive

RULES_ID = "1RulesDocId_abcdefghijklmnopqrstuvwxyz012345"
VOICE_ID = "1VoiceDocId_abcdefghijklmnopqrstuvwxyz012345"


@pytest.fixture(scope="module")
def drive_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def drive_server(drive_key: rsa.RSAPrivateKey) -> Iterator[FakeDrive]:
    fake = FakeDrive(drive_key.public_key())
    fake.serve()
    yield fake
    fake.close()


@pytest.fixture
def drive(drive_server: FakeDrive) -> Iterator[FakeDrive]:
    drive_server.reset()
    drive_server.add_doc(RULES_ID, DEFAULT_RULES_TEXT, by="Ann Owner", email="ann@shop.example")
    drive_server.add_doc(VOICE_ID, DEFAULT_VOICE_TEXT, by="Ann Owner", email="ann@shop.example")
    yield drive_server
    assert drive_server.unknown == [], f"requests the fake does not know: {drive_server.unknown}"
