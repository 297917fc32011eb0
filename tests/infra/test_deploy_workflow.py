"""The deploy workflow: OIDC into a role, SAM build and deploy, no long-lived keys."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from .cfn import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "deploy.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    (job,) = workflow["jobs"].values()
    result: list[dict[str, Any]] = job["steps"]
    return result


def test_assumes_a_role_through_oidc(workflow: dict[Any, Any]) -> None:
    assert workflow["permissions"]["id-token"] == "write"
    (creds,) = [
        s for s in steps(workflow) if s.get("uses", "").startswith("aws-actions/configure-aws-")
    ]
    assert "role-to-assume" in creds["with"]
    assert "aws-access-key-id" not in creds["with"]
    assert "aws-secret-access-key" not in creds["with"]


def test_no_long_lived_keys_anywhere() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    for marker in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "aws-access-key-id", "secrets."):
        assert marker not in text


def test_lints_builds_and_deploys_with_the_pinned_tools(workflow: dict[Any, Any]) -> None:
    scripts = "\n".join(s.get("run", "") for s in steps(workflow))
    assert "pip install --quiet -r infra/requirements-tools.txt" in scripts
    assert "cfn-lint infra/template.yaml" in scripts
    assert "sam validate --template infra/template.yaml" in scripts
    assert "sam build --template infra/template.yaml" in scripts
    assert "sam deploy" in scripts
    assert "CAPABILITY_NAMED_IAM" in scripts  # the roles have fixed names
    order = [s.get("run", s.get("uses", "")) for s in steps(workflow)]
    creds = next(i for i, s in enumerate(order) if "configure-aws-credentials" in s)
    lint = next(i for i, s in enumerate(order) if "cfn-lint" in s)
    deploy = next(i for i, s in enumerate(order) if "sam deploy" in s)
    assert lint < creds < deploy  # the template is checked before any credentials exist


def test_the_runtime_python_is_there_for_sam_build(workflow: dict[Any, Any]) -> None:
    (setup,) = [s for s in steps(workflow) if s.get("uses", "").startswith("actions/setup-python")]
    assert "3.14" in setup["with"]["python-version"].split()
