"""Reading the voice doc, line by line, into ``Voice`` (or a ``VoiceError`` naming every line)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from cart_recovery.domain.rules import Problem
from cart_recovery.domain.voice.check import TemplateSource, check_template
from cart_recovery.domain.voice.lines import one_line
from cart_recovery.domain.voice.model import (
    DEFAULT_BUTTON,
    DEFAULT_FOOTER,
    DEFAULT_GREETING,
    DEFAULT_GREETING_NO_NAME,
    DEFAULT_UNSUBSCRIBE,
    STEPS,
    StepVoice,
    Voice,
    VoiceError,
)

_SECTION = re.compile(r"^\s*\[([^\]]*)\]\s*$")
_FIELD = re.compile(r"^([A-Za-z][A-Za-z '\-]*?)\s*:\s*(.*)$")
_FIRST = {"first", "1st", "1", "one"}
_SECOND = {"second", "2nd", "2", "two"}
_MORE = re.compile(r"\b(third|3rd|3|three|fourth|4th|4|four|fifth|5th|5|five)\b", re.I)
_FILLER = {"reminder", "email", "step", "nudge", "the"}

_SETTINGS = {
    "store name": "store_name",
    "store": "store_name",
    "greeting": "greeting",
    "greeting without a name": "greeting_no_name",
    "greeting without name": "greeting_no_name",
    "greeting with no name": "greeting_no_name",
    "no name greeting": "greeting_no_name",
    "button": "button",
    "return button": "button",
    "button text": "button",
    "unsubscribe": "unsubscribe",
    "unsubscribe link": "unsubscribe",
    "unsubscribe text": "unsubscribe",
    "footer": "footer",
}
_STEP_FIELDS = {
    "subject": "subject",
    "opening": "opening",
    "opening line": "opening",
    "saved opening": "saved_opening",
    "saved link opening": "saved_opening",
    "saved opening line": "saved_opening",
    "body": "body",
}
_FIELD_LABELS = {
    "subject": "Subject:",
    "opening": "Opening:",
    "saved_opening": "Saved opening:",
    "body": "Body:",
}
_SECTION_LABELS = {1: "[First reminder]", 2: "[Second reminder]"}
_DEFAULT_SETTINGS = {
    "greeting": DEFAULT_GREETING,
    "greeting_no_name": DEFAULT_GREETING_NO_NAME,
    "button": DEFAULT_BUTTON,
    "unsubscribe": DEFAULT_UNSUBSCRIBE,
    "footer": DEFAULT_FOOTER,
}


@dataclass
class _Section:
    step: int
    line: int
    text: str
    fields: dict[str, TemplateSource] = field(default_factory=dict)
    body: list[tuple[int, str]] = field(default_factory=list)


def _key(label: str) -> str:
    return " ".join(label.lower().replace("-", " ").split())


def _step_of(title: str) -> int | None:
    words = [w for w in _key(title).split() if w not in _FILLER]
    if len(words) != 1:
        return None
    if words[0] in _FIRST:
        return 1
    if words[0] in _SECOND:
        return 2
    return None


def _bad_char(line: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cs") and ch != "\t" for ch in line)


def parse_voice(text: str) -> Voice:
    """Read the voice doc. Raises ``VoiceError`` listing every problem, each with its line."""
    lines = text.splitlines()
    reader = _Reader()
    for no, raw in enumerate(lines, start=1):
        reader.read(no, raw)
    store = reader.finish(lines)
    for source in reader.templates():
        reader.problems.extend(check_template(source, lines, store.text if store else "Store"))
    if reader.problems:
        reader.problems.sort(key=lambda p: p.line)
        raise VoiceError(reader.problems)
    assert store is not None
    return _voice(store, reader.settings, reader.sections)


@dataclass
class _Reader:
    """What the doc has said so far, read one line at a time; ``problems`` in the order found."""

    problems: list[Problem] = field(default_factory=list)
    settings: dict[str, TemplateSource] = field(default_factory=dict)
    sections: dict[int, _Section] = field(default_factory=dict)
    current: _Section | None = None
    skipping: bool = False  # inside a section we could not read: its lines were reported already
    in_body: bool = False

    def report(self, no: int, line: str, message: str) -> None:
        self.problems.append(Problem(no, line, message))

    def read(self, no: int, raw: str) -> None:
        """One line of the doc: a heading, a line of a Body, a setting or a reminder's line."""
        line = raw.rstrip()
        if _bad_char(line):
            self.report(no, line, "this line holds a control character")
            line = "".join(" " if _bad_char(ch) else ch for ch in line)
        header = _SECTION.match(line)
        if header:
            self._heading(no, line, header.group(1))
            return
        if self.in_body and self.current is not None:
            self.current.body.append((no, line))
            return
        if self.skipping:
            return
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            return
        found = _FIELD.match(stripped)
        if found is None:
            where = "setting like 'Store name: …'" if self.current is None else "'Subject:' line"
            self.report(no, line, f"expected a {where} or a [section] heading")
            return
        key, value = _key(found.group(1)), found.group(2).strip()
        if self.current is None:
            self._setting(no, line, key, value, found.group(1))
        else:
            self._step_line(self.current, no, line, key, value)

    def _heading(self, no: int, line: str, title: str) -> None:
        self.in_body = False
        step = _step_of(title)
        if step is None:
            message = (
                "there are at most two reminders"
                if _MORE.search(title)
                else "unknown section; use [First reminder] or [Second reminder]"
            )
            self.report(no, line, message)
            self.current, self.skipping = None, True
        elif step in self.sections:
            self.report(no, line, "this reminder already has a section above")
            self.current, self.skipping = None, True
        else:
            self.current = self.sections[step] = _Section(step, no, line.strip())
            self.skipping = False

    def _setting(self, no: int, line: str, key: str, value: str, label: str) -> None:
        """A line above the first section: one of the settings."""
        if key in _SETTINGS:
            name = _SETTINGS[key]
            if name in self.settings:
                self.report(no, line, "this setting is already given above")
            elif not value:
                self.report(no, line, "this setting is empty")
            else:
                self.settings[name] = TemplateSource(name, value, no)
        elif key in _STEP_FIELDS:
            self.report(no, line, "this belongs under [First reminder] or [Second reminder]")
        else:
            self.report(no, line, f"unknown setting {label!r}")

    def _step_line(self, section: _Section, no: int, line: str, key: str, value: str) -> None:
        """A line inside a reminder's section: its Subject, Opening, Saved opening or Body."""
        if key not in _STEP_FIELDS:
            known = ", ".join(_FIELD_LABELS.values())
            self.report(no, line, f"unknown line; a reminder has {known}")
            return
        name = _STEP_FIELDS[key]
        if name in section.fields:
            self.report(no, line, "this reminder already has this line above")
            return
        if name == "body":
            self.in_body = True
            section.fields[name] = TemplateSource(name, "", no)
            if value:
                section.body.append((no, value))
            return
        if not value:
            self.report(no, line, "this line is empty")
            return
        section.fields[name] = TemplateSource(name, value, no)

    def finish(self, lines: list[str]) -> TemplateSource | None:
        """Reports what the doc lacks and closes each Body; returns the store name's line."""
        end = max(len(lines), 1)
        store = self.settings.get("store_name")
        if store is None:
            self.report(1, lines[0] if lines else "", "missing a 'Store name: …' line")
        for step in STEPS:
            if step not in self.sections:
                self.report(end, "", f"missing the {_SECTION_LABELS[step]} section")
                continue
            section = self.sections[step]
            if "body" in section.fields:
                section.fields["body"] = _body_source(section)
            for name, label in _FIELD_LABELS.items():
                if name not in section.fields:
                    self.report(section.line, section.text, f"no {label} line here")
        return store

    def templates(self) -> list[TemplateSource]:
        """Every template the doc gave (the store name is a plain value, not a template)."""
        sources = [s for s in self.settings.values() if s.kind != "store_name"]
        for section in self.sections.values():
            sources.extend(section.fields.values())
        return sources


def _voice(
    store: TemplateSource, settings: dict[str, TemplateSource], sections: dict[int, _Section]
) -> Voice:
    def setting(name: str) -> str:
        given = settings.get(name)
        return given.text if given is not None else _DEFAULT_SETTINGS[name]

    return Voice(
        store_name=one_line(store.text),
        steps={
            step: StepVoice(
                subject=section.fields["subject"].text,
                opening=section.fields["opening"].text,
                saved_opening=section.fields["saved_opening"].text,
                body=section.fields["body"].text,
            )
            for step, section in sorted(sections.items())
        },
        greeting=setting("greeting"),
        greeting_no_name=setting("greeting_no_name"),
        button=setting("button"),
        unsubscribe=setting("unsubscribe"),
        footer=setting("footer"),
    )


def _body_source(section: _Section) -> TemplateSource:
    body = list(section.body)
    while body and not body[0][1].strip():
        body.pop(0)
    while body and not body[-1][1].strip():
        body.pop()
    if not body:
        return section.fields["body"]  # empty: reported by check_template
    return TemplateSource("body", "\n".join(line for _, line in body), body[0][0])
