"""The DocHistory contract, run against every adapter that keeps versions: the files in the data
folder, the versioned S3 bucket (on moto) and the in-memory docs.

Every version is kept, newest first; a save from the current version writes a new one and the
next read of the doc serves it; a save from any other version is refused (StaleDoc) and writes
nothing, handing the text back.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cart_recovery.adapters.aws.docs import S3Docs
from cart_recovery.adapters.files import FileDocs
from cart_recovery.adapters.memory import MemoryDocs
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT
from cart_recovery.domain.voice import DEFAULT_VOICE_TEXT
from cart_recovery.ports import DocHistory, StaleDoc
from tests.aws.services import REGION, client, unique

AT = datetime(2026, 5, 12, 14, 0, tzinfo=UTC)
SLOW = DEFAULT_RULES_TEXT.replace("Medium carts: 2 hours", "Medium carts: 5 hours")
SLOWER = DEFAULT_RULES_TEXT.replace("Medium carts: 2 hours", "Medium carts: 7 hours")

Docs = FileDocs | MemoryDocs | S3Docs


def docs_bucket(moto: str) -> tuple[Any, str]:
    """A versioned bucket whose docs were uploaded by hand, as the deploy guide has it."""
    s3 = client("s3", moto)
    bucket = unique("docs")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="rules.txt", Body=DEFAULT_RULES_TEXT.encode())
    s3.put_object(Bucket=bucket, Key="voice.txt", Body=DEFAULT_VOICE_TEXT.encode())
    return s3, bucket


def bucket_docs(s3: Any, bucket: str, **keys: str) -> S3Docs:
    return S3Docs(s3, bucket, emit=lambda line: None, **keys)


@pytest.fixture(params=["files", "memory", pytest.param("s3", marks=pytest.mark.aws)])
def docs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Docs]:
    if request.param == "memory":
        yield MemoryDocs(DEFAULT_RULES_TEXT, DEFAULT_VOICE_TEXT, at=AT)
        return
    if request.param == "s3":
        yield bucket_docs(*docs_bucket(request.getfixturevalue("moto_server")))
        return
    (tmp_path / "rules.txt").write_text(DEFAULT_RULES_TEXT, encoding="utf-8")
    (tmp_path / "voice.txt").write_text(DEFAULT_VOICE_TEXT, encoding="utf-8")
    yield FileDocs(tmp_path / "rules.txt", tmp_path / "voice.txt")


def test_the_current_text_is_the_first_version(docs: Docs) -> None:
    assert isinstance(docs, DocHistory)
    [first] = docs.versions("rules")
    assert (first.doc, first.text) == ("rules", DEFAULT_RULES_TEXT)
    assert docs.versions("voice")[0].text == DEFAULT_VOICE_TEXT


def test_a_save_from_the_current_version_is_the_new_current_one(docs: Docs) -> None:
    base = docs.versions("rules")[0].version
    saved = docs.save("rules", SLOW, base=base, by="Ann", at=AT, note="slower", source="dashboard")
    versions = docs.versions("rules")
    assert [v.text for v in versions] == [SLOW, DEFAULT_RULES_TEXT]
    assert versions[0] == saved
    assert (saved.by, saved.at, saved.note, saved.source) == ("Ann", AT, "slower", "dashboard")
    assert saved.version > base
    assert docs.rules().tier_for(Decimal("100")).first == timedelta(hours=5)


def test_a_save_from_a_stale_version_is_refused_and_writes_nothing(docs: Docs) -> None:
    base = docs.versions("rules")[0].version
    first = docs.save("rules", SLOW, base=base, by="Ann", at=AT)
    with pytest.raises(StaleDoc) as refused:
        docs.save("rules", SLOWER, base=base, by="Bob", at=AT)
    assert refused.value.text == SLOWER
    assert refused.value.current == first
    assert "changed since you opened it" in str(refused.value)
    assert [v.text for v in docs.versions("rules")] == [SLOW, DEFAULT_RULES_TEXT]


def test_versions_are_never_rewritten(docs: Docs) -> None:
    for text in (SLOW, SLOWER, DEFAULT_RULES_TEXT):
        docs.save("rules", text, base=docs.versions("rules")[0].version, by="Ann", at=AT)
    versions = docs.versions("rules")
    assert [v.text for v in versions] == [DEFAULT_RULES_TEXT, SLOWER, SLOW, DEFAULT_RULES_TEXT]
    assert len({v.version for v in versions}) == 4
    assert [v.version for v in versions] == sorted((v.version for v in versions), reverse=True)


# ---- the files in the data folder --------------------------------------------------------------
def folder_docs(folder: Path) -> FileDocs:
    if not (folder / "rules.txt").exists():
        (folder / "rules.txt").write_text(DEFAULT_RULES_TEXT, encoding="utf-8")
        (folder / "voice.txt").write_text(DEFAULT_VOICE_TEXT, encoding="utf-8")
    return FileDocs(folder / "rules.txt", folder / "voice.txt")


def test_a_save_keeps_the_doc_file_current_and_each_version_in_its_own_files(
    tmp_path: Path,
) -> None:
    docs = folder_docs(tmp_path)
    base = docs.versions("rules")[0].version
    saved = docs.save("rules", SLOW, base=base, by="Ann", at=AT, note="slower")
    assert (tmp_path / "rules.txt").read_text(encoding="utf-8") == SLOW
    kept = tmp_path / "doc-history" / "rules"
    assert sorted(p.name for p in kept.iterdir() if not p.name.startswith(".")) == [
        "000001.json",
        "000001.txt",
        "000002.json",
        "000002.txt",
    ]
    assert saved.version == "000002"
    assert (kept / "000001.txt").read_text(encoding="utf-8") == DEFAULT_RULES_TEXT
    assert not [p for p in kept.iterdir() if p.name.endswith(".tmp")]


def test_a_hand_edit_is_a_version_edited_on_disk(tmp_path: Path) -> None:
    docs = folder_docs(tmp_path)
    docs.rules()  # the first read records the doc as found
    (tmp_path / "rules.txt").write_text(SLOW, encoding="utf-8")
    newest = docs.versions("rules")[0]
    assert (newest.text, newest.by, newest.source) == (SLOW, "edited on disk", "disk")
    assert len(docs.versions("rules")) == 2  # read again: recorded once


def test_a_hand_edit_is_recorded_when_the_doc_is_read(tmp_path: Path) -> None:
    docs = folder_docs(tmp_path)
    assert docs.rules().tier_for(Decimal("100")).first == timedelta(hours=2)
    (tmp_path / "rules.txt").write_text(SLOWER, encoding="utf-8")
    docs.rules_doc.changed()  # a later modification time, as an edit a moment later has
    assert docs.rules().tier_for(Decimal("100")).first == timedelta(hours=7)
    kept = tmp_path / "doc-history" / "rules"
    assert sorted(p.name for p in kept.glob("*.json")) == ["000001.json", "000002.json"]
    assert [(v.text, v.source) for v in docs.versions("rules")] == [
        (SLOWER, "disk"),
        (DEFAULT_RULES_TEXT, "disk"),
    ]


def test_a_hand_edit_made_after_the_author_opened_the_doc_makes_the_save_stale(
    tmp_path: Path,
) -> None:
    docs = folder_docs(tmp_path)
    base = docs.versions("rules")[0].version
    (tmp_path / "rules.txt").write_text(SLOWER, encoding="utf-8")
    with pytest.raises(StaleDoc) as refused:
        docs.save("rules", SLOW, base=base, by="Ann", at=AT)
    assert refused.value.current.by == "edited on disk"
    assert (tmp_path / "rules.txt").read_text(encoding="utf-8") == SLOWER


def test_two_sources_over_one_folder_share_the_history_and_its_check(tmp_path: Path) -> None:
    one, other = folder_docs(tmp_path), folder_docs(tmp_path)  # e.g. two processes
    base = one.versions("rules")[0].version
    assert other.versions("rules")[0].version == base
    one.save("rules", SLOW, base=base, by="Ann", at=AT)
    with pytest.raises(StaleDoc):
        other.save("rules", SLOWER, base=base, by="Bob", at=AT)
    assert [v.text for v in other.versions("rules")] == [SLOW, DEFAULT_RULES_TEXT]
    assert other.rules().tier_for(Decimal("100")).first == timedelta(hours=5)


# ---- the versioned bucket ---------------------------------------------------------------------
@pytest.fixture
def bucket(moto_server: str) -> tuple[Any, str]:
    return docs_bucket(moto_server)


@pytest.mark.aws
def test_a_doc_uploaded_by_hand_is_a_version_uploaded_to_s3(bucket: tuple[Any, str]) -> None:
    s3, name = bucket
    docs = bucket_docs(s3, name)
    [first] = docs.versions("rules")
    assert (first.by, first.source, first.note) == ("uploaded to S3", "upload", "")
    assert first.version.startswith("000001.")
    s3.put_object(Bucket=name, Key="rules.txt", Body=SLOW.encode())  # `aws s3 cp` again
    newest = docs.versions("rules")[0]
    assert (newest.text, newest.by, newest.source) == (SLOW, "uploaded to S3", "upload")
    assert newest.version.startswith("000002.")


@pytest.mark.aws
def test_who_and_the_note_are_kept_as_the_versions_metadata(bucket: tuple[Any, str]) -> None:
    s3, name = bucket
    docs = bucket_docs(s3, name)
    base = docs.versions("voice")[0].version
    saved = docs.save("voice", DEFAULT_VOICE_TEXT + "\n", base=base, by="Zoë", at=AT, note="ü – ok")
    assert docs.versions("voice")[0] == saved
    head = s3.head_object(Bucket=name, Key="voice.txt")
    assert head["VersionId"] == saved.version.partition(".")[2]
    assert set(head["Metadata"]) == {"by", "at", "note", "source"}


@pytest.mark.aws
def test_a_save_that_lands_between_the_check_and_the_write_makes_ours_stale(
    bucket: tuple[Any, str],
) -> None:
    # Given a bucket where another save lands just before ours is written
    s3, name = bucket
    docs = bucket_docs(s3, name)

    class Racing:
        def __getattr__(self, attribute: str) -> object:
            return getattr(s3, attribute)

        def put_object(self, **request: object) -> object:
            s3.put_object(Bucket=name, Key="rules.txt", Body=SLOWER.encode())
            return s3.put_object(**request)

    racing = bucket_docs(Racing(), name)
    base = racing.versions("rules")[0].version
    # When we save from the version that was current when we checked
    with pytest.raises(StaleDoc) as refused:
        racing.save("rules", SLOW, base=base, by="Ann", at=AT)
    # Then the conditional write refused ours: the other save is current, ours is not written
    assert refused.value.current.text == SLOWER
    assert [v.text for v in docs.versions("rules")] == [SLOWER, DEFAULT_RULES_TEXT]


@pytest.mark.aws
def test_the_first_save_of_a_doc_not_in_the_bucket_yet(bucket: tuple[Any, str]) -> None:
    s3, name = bucket
    fresh = bucket_docs(s3, name, rules_key="other/rules.txt")
    assert fresh.versions("rules") == []
    saved = fresh.save("rules", SLOW, base=None, by="Ann", at=AT)
    assert saved.version.startswith("000001.")
    with pytest.raises(StaleDoc):
        fresh.save("rules", SLOWER, base=None, by="Bob", at=AT)
    assert fresh.rules().tier_for(Decimal("100")).first == timedelta(hours=5)
