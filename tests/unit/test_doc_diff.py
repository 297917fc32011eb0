"""The summary and the diff of a doc edit (domain/doc_diff)."""

from __future__ import annotations

from cart_recovery.domain.doc_diff import diff_summary, line_changes, unified_diff

OLD = "Medium carts: 2 hours, then 22.\nQuiet hours: 9pm to 8am.\nGive up after two reminders.\n"


def test_a_changed_line_counts_as_one_added_and_one_removed() -> None:
    new = OLD.replace("2 hours, then 22", "3 hours, then 22")
    assert line_changes(OLD, new) == (1, 1)
    assert diff_summary(OLD, new) == "+1 \u22121 lines"


def test_added_and_removed_lines_are_counted_apart() -> None:
    new = OLD.replace("Quiet hours: 9pm to 8am.\n", "") + "Store timezone: UTC.\nA comment.\n"
    assert diff_summary(OLD, new) == "+2 \u22121 lines"


def test_the_same_lines_are_no_change() -> None:
    assert diff_summary(OLD, OLD.rstrip("\n")) == "no change"
    assert unified_diff(OLD, OLD) == ""


def test_the_unified_diff_names_both_versions_and_marks_the_lines() -> None:
    new = OLD.replace("9pm", "10pm")
    diff = unified_diff(OLD, new, old_name="rules 000001", new_name="rules 000002")
    lines = diff.splitlines()
    assert lines[:2] == ["--- rules 000001", "+++ rules 000002"]
    assert "-Quiet hours: 9pm to 8am." in lines
    assert "+Quiet hours: 10pm to 8am." in lines


def test_a_first_text_from_nothing_is_all_added() -> None:
    assert diff_summary("", OLD) == "+3 \u22120 lines"
