"""The DocSource contract, run against every adapter: the files in the data folder, the
versioned S3 bucket (on moto), and the static docs of ``simulate``.

Every source serves the owner's current rules and voice. A source the owner edits serves an
edit from the next read on, and a bad edit never replaces the last good version, not even for a
source started after it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cart_recovery.adapters.aws.docs import S3Docs
from cart_recovery.adapters.files import FileDocs
from cart_recovery.adapters.memory import StaticDocs
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT, parse_rules
from cart_recovery.domain.voice import DEFAULT_VOICE_TEXT, parse_voice
from cart_recovery.ports import DocSource
from tests.aws.services import REGION, client, unique

RULES = DEFAULT_RULES_TEXT
VOICE = DEFAULT_VOICE_TEXT.replace("Store name: Linen & Light", "Store name: Corner Shop")
SLOW_RULES = DEFAULT_RULES_TEXT.replace("1 hour, then 20", "3 hours, then 20")
RENAMED_VOICE = VOICE.replace("Store name: Corner Shop", "Store name: Corner Shop & Co")
BAD_RULES = DEFAULT_RULES_TEXT.replace("Quiet hours: 9pm to 8am.", "Quiet hours: whenever.")
BAD_VOICE = VOICE + "\n{{ unclosed"
DOC_FILES = {"rules": "rules.txt", "voice": "voice.txt"}


@dataclass
class Harness:
    source: DocSource
    edit: Callable[[str, str], None] | None  # (doc, text): the owner saves a new version
    restart: Callable[[], DocSource] | None  # a new source over the same docs (a cold start)


def files_harness(folder: Path) -> Harness:
    paths = {doc: folder / name for doc, name in DOC_FILES.items()}
    paths["rules"].write_text(RULES, encoding="utf-8")
    paths["voice"].write_text(VOICE, encoding="utf-8")

    def make() -> FileDocs:
        return FileDocs(paths["rules"], paths["voice"])

    def edit(doc: str, text: str) -> None:
        path = paths[doc]
        before = path.stat()
        path.write_text(text, encoding="utf-8")
        # a later modification time, as a save a moment later has (no waiting for the clock)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 5_000_000_000))

    return Harness(make(), edit, make)


def s3_harness(moto: str) -> Harness:
    s3 = client("s3", moto)
    bucket = unique("docs")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="rules.txt", Body=RULES.encode())
    s3.put_object(Bucket=bucket, Key="voice.txt", Body=VOICE.encode())
    docs = S3Docs(s3, bucket)

    def edit(doc: str, text: str) -> None:
        s3.put_object(Bucket=bucket, Key=DOC_FILES[doc], Body=text.encode())
        docs.expire()  # the next invocation

    return Harness(docs, edit, lambda: S3Docs(s3, bucket))


def static_harness() -> Harness:
    return Harness(StaticDocs(parse_rules(RULES), parse_voice(VOICE)), None, None)


def make_harness(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if kind == "files":
        return files_harness(tmp_path)
    if kind == "s3":
        return s3_harness(request.getfixturevalue("moto_server"))
    return static_harness()


S3 = pytest.param("s3", marks=pytest.mark.aws)


@pytest.fixture(params=["files", S3, "static"])
def docs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    yield make_harness(request.param, request, tmp_path)


@pytest.fixture(params=["files", S3])
def edited(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """Only the sources an owner edits (static docs never change)."""
    yield make_harness(request.param, request, tmp_path)


def edit(harness: Harness, doc: str, text: str) -> None:
    assert harness.edit is not None
    harness.edit(doc, text)


def test_the_rules_and_voice_served_are_the_docs_as_written(docs: Harness) -> None:
    assert docs.source.rules() == parse_rules(RULES)
    assert docs.source.voice().store_name == "Corner Shop"


def test_reading_again_without_an_edit_serves_the_same_docs(docs: Harness) -> None:
    first_rules, first_voice = docs.source.rules(), docs.source.voice()
    assert docs.source.rules() == first_rules
    assert docs.source.voice().store_name == first_voice.store_name


def test_an_edit_is_served_from_the_next_read_on(edited: Harness) -> None:
    # Given a source that served the original docs
    assert edited.source.rules() == parse_rules(RULES)
    # When the owner saves new versions of both
    edit(edited, "rules", SLOW_RULES)
    edit(edited, "voice", RENAMED_VOICE)
    # Then the next reads serve them
    assert edited.source.rules() == parse_rules(SLOW_RULES)
    assert edited.source.voice().store_name == "Corner Shop & Co"


def test_a_bad_edit_keeps_the_last_good_version(edited: Harness) -> None:
    # Given a good edit that was served
    edit(edited, "rules", SLOW_RULES)
    assert edited.source.rules() == parse_rules(SLOW_RULES)
    edited.source.voice()
    # When the owner saves versions that do not parse
    edit(edited, "rules", BAD_RULES)
    edit(edited, "voice", BAD_VOICE)
    # Then the reads do not fail and serve the last good versions
    assert edited.source.rules() == parse_rules(SLOW_RULES)
    assert edited.source.voice().store_name == "Corner Shop"


def test_a_source_started_after_a_bad_edit_serves_the_last_good_version(
    edited: Harness,
) -> None:
    edit(edited, "rules", SLOW_RULES)
    assert edited.source.rules() == parse_rules(SLOW_RULES)
    edited.source.voice()
    edit(edited, "rules", BAD_RULES)
    edit(edited, "voice", BAD_VOICE)
    assert edited.restart is not None
    fresh = edited.restart()
    assert fresh.rules() == parse_rules(SLOW_RULES)
    assert fresh.voice().store_name == "Corner Shop"


def test_a_good_edit_after_a_bad_one_is_served(edited: Harness) -> None:
    assert edited.source.rules() == parse_rules(RULES)
    edit(edited, "rules", BAD_RULES)
    assert edited.source.rules() == parse_rules(RULES)
    edit(edited, "rules", SLOW_RULES)
    assert edited.source.rules() == parse_rules(SLOW_RULES)
