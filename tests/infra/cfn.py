"""Reading infra/template.yaml in tests: a YAML loader that knows CloudFormation's short tags,
the tools virtualenv that holds cfn-lint and the SAM CLI, and reference helpers."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
TOOLS_BIN = ROOT / ".venv-tools" / "bin"


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns ``!Ref X`` into ``{"Ref": "X"}``, ``!Sub s`` into
    ``{"Fn::Sub": s}``, ``!GetAtt A.B`` into ``{"Fn::GetAtt": ["A", "B"]}``, and so on."""


def _construct(tag: str, loader: CfnLoader, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    if tag == "Ref":
        return {"Ref": value}
    if tag == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    if tag == "Condition":
        return {"Condition": value}
    return {f"Fn::{tag}": value}


TAGS = (
    "Ref GetAtt Sub Join Select Split If Not Equals And Or FindInMap Base64 Cidr "
    "ImportValue GetAZs Condition Transform"
)


def _constructor(tag: str) -> Callable[[CfnLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: CfnLoader, node: yaml.Node) -> dict[str, Any]:
        return _construct(tag, loader, node)

    return construct


for _tag in TAGS.split():
    CfnLoader.add_constructor(f"!{_tag}", _constructor(_tag))


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=CfnLoader)
    assert isinstance(data, dict)
    return data


def tool(name: str) -> Path:
    """A binary from the tools venv; skipped when the venv is absent, except in CI."""
    path = TOOLS_BIN / name
    if not path.exists():
        reason = f"{path} is missing: `bash scripts/test` creates .venv-tools"
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI must run the infrastructure checks)")
        pytest.skip(reason)
    return path


_SUB_VAR = re.compile(r"\$\{([A-Za-z0-9_:]+)(?:\.[A-Za-z0-9_.]+)?\}")


def references(node: Any) -> Iterator[str]:
    """Every logical id or parameter name a fragment refers to (Ref, GetAtt, ${X} in Sub)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref":
                yield value
            elif key == "Fn::GetAtt":
                yield value[0]
            elif key == "Fn::Sub":
                text, local = (value, {}) if isinstance(value, str) else value
                for name in _SUB_VAR.findall(text):
                    if name not in local:
                        yield name
                yield from references(local)
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def arn_name(resource: Any) -> str:
    """A short, readable name for a policy resource: ``!GetAtt StateTable.Arn`` ->
    ``StateTable``; ``!Sub "${RulesBucket.Arn}/rules.txt"`` -> ``RulesBucket/rules.txt``;
    ``!Sub "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:x"`` -> ``sqs:x``."""
    if isinstance(resource, str):
        return resource
    if "Fn::GetAtt" in resource:
        logical_id, attribute = resource["Fn::GetAtt"]
        return logical_id if attribute == "Arn" else f"{logical_id}.{attribute}"
    if "Fn::Sub" in resource:
        value = resource["Fn::Sub"]
        text = value if isinstance(value, str) else value[0]
        text = re.sub(r"\$\{([A-Za-z0-9]+)\.Arn\}", r"\1", text)
        text = text.replace("arn:${AWS::Partition}:", "")
        return text.replace(":${AWS::Region}:${AWS::AccountId}:", ":")
    if "Ref" in resource:
        return f"Ref:{resource['Ref']}"
    raise AssertionError(f"unexpected resource form: {resource!r}")
