"""The committed JSON Schema against the one msgspec generates from the event model: every type
and bound the model enforces is in the contract, so a change to ``domain/model.py`` that the
contract does not follow fails here (the contract may be stricter, never looser)."""

from __future__ import annotations

from typing import Any

import msgspec

from cart_recovery import contract
from cart_recovery.domain.model import CartEvent

DECIMAL = {"type": "string", "format": "decimal"}
# msgspec writes Python's end-of-string anchor; JSON Schema (ECMA 262) spells it "$".
PATTERNS = {"^[A-Z]{3}\\Z": "^[A-Z]{3}$"}


def generated() -> dict[str, Any]:
    schema: dict[str, Any] = msgspec.json.schema(CartEvent)
    defs: dict[str, Any] = schema["$defs"]
    return defs


def committed() -> dict[str, Any]:
    schema = contract.cart_event_schema()
    return {"CartEvent": schema, "Item": schema["$defs"]["Item"]}


def decimal_ok(model: dict[str, Any], kept: dict[str, Any], where: str) -> list[str]:
    """A Decimal: the contract takes it as a non-negative number or a decimal string."""
    branches = kept.get("anyOf", [])
    types = {b.get("type") for b in branches}
    if types != {"number", "string"} or not all(
        b.get("minimum") == 0 for b in branches if b.get("type") == "number"
    ):
        return [f"{where}: a decimal must be a number >= 0 or a decimal string, got {kept}"]
    if "default" in model and kept.get("default") != model["default"]:
        return [f"{where}: default {kept.get('default')!r} != {model['default']!r}"]
    return []


def compare(model: Any, kept: Any, where: str) -> list[str]:
    """What of ``model`` (generated) is missing or different in ``kept`` (committed)."""
    if isinstance(model, dict) and {k: v for k, v in model.items() if k != "default"} == DECIMAL:
        return decimal_ok(model, kept, where)
    if isinstance(model, dict):
        if not isinstance(kept, dict):
            return [f"{where}: {kept!r} is not a schema object"]
        problems = []
        for key, value in model.items():
            if key in {"title", "description"} or (key == "default" and value is None):
                continue
            if key not in kept:
                problems.append(f"{where}: '{key}' ({value!r}) is missing")
            elif key == "pattern":
                if kept[key] != PATTERNS.get(value, value):
                    problems.append(f"{where}.pattern: {kept[key]!r} != {value!r}")
            elif key == "enum":
                if sorted(kept[key]) != sorted(value):
                    problems.append(f"{where}.enum: {kept[key]!r} != {value!r}")
            elif key == "required":
                if set(kept[key]) != set(value):
                    problems.append(f"{where}.required: {kept[key]!r} != {value!r}")
            else:
                problems += compare(value, kept[key], f"{where}.{key}")
        return problems
    if isinstance(model, list):
        if not isinstance(kept, list) or len(kept) != len(model):
            return [f"{where}: {kept!r} != {model!r}"]
        return [
            p
            for i, (m, k) in enumerate(zip(model, kept, strict=True))
            for p in compare(m, k, f"{where}[{i}]")
        ]
    return [] if kept == model else [f"{where}: {kept!r} != {model!r}"]


def test_the_committed_schema_keeps_every_bound_of_the_event_model() -> None:
    # Given the schema msgspec generates from CartEvent and Item, and the one kept in the repo
    model, kept = generated(), committed()
    # Then every type, length, range, pattern, enum and required field of the model is in it
    problems = [p for name in ("CartEvent", "Item") for p in compare(model[name], kept[name], name)]
    assert not problems, "update src/cart_recovery/contract/cart-event.schema.json:\n" + "\n".join(
        problems
    )


def test_a_loosened_contract_would_be_caught() -> None:
    # Given the committed schema with one bound dropped and one changed
    model, kept = generated(), committed()
    loose = msgspec.json.decode(msgspec.json.encode(kept["CartEvent"]))
    del loose["properties"]["cart_id"]["maxLength"]
    loose["properties"]["email"]["anyOf"][0]["maxLength"] = 10_000
    # Then the comparison names both
    problems = compare(model["CartEvent"], loose, "CartEvent")
    assert any("cart_id" in p and "maxLength" in p for p in problems), problems
    assert any("email" in p and "10000" in p for p in problems), problems
