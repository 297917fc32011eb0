"""The README's integration examples, run verbatim against a live ``serve``: the Shopify and
Standard Webhooks curl + openssl examples, and the Python and Node senders for any other store.
(The generic webhook's curl example is run by tests/e2e/test_cli.py.)"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cart_recovery.bootstrap.embedded import init_data_dir
from tests.e2e.harness import serve_in

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SHOPIFY_SECRET = "readme-shopify-secret-0123456789abcdef"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"readme-standard-webhooks-secret!").decode()
NEEDS_SHELL = pytest.mark.skipif(
    not (shutil.which("curl") and shutil.which("openssl") and shutil.which("base64")),
    reason="needs curl, openssl and base64",
)


def block(after: str, lang: str) -> str:
    """The first ```lang block after the sentence ``after`` in the README."""
    assert after in README, f"the README no longer says {after!r}"
    rest = README.split(after, 1)[1].split(f"```{lang}\n", 1)[1]
    return rest.split("```", 1)[0]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    folder = tmp_path_factory.mktemp("readme")
    data = folder / "cart-recovery-data"
    init_data_dir(data)
    with (data / "config.toml").open("a") as f:  # what the README tells the owner to set
        f.write(f'shopify_secrets = ["{SHOPIFY_SECRET}"]\n')
        f.write(f'standard_webhooks_secrets = ["{STANDARD_SECRET}"]\n')
    with serve_in(folder) as run:
        yield folder, run.port


def run_bash(script: str, folder: Path, port: int) -> Any:
    script = script.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@NEEDS_SHELL
def test_the_shopify_example_is_accepted(served: tuple[Path, int]) -> None:
    folder, port = served
    script = block("What Shopify sends, by hand", "bash")
    answer = run_bash(script, folder, port)
    assert answer["status"] == "accepted"
    assert answer["cart_id"] == "b1946ac92492d2347c6235b4d2611184"


@NEEDS_SHELL
def test_the_standard_webhooks_example_is_accepted(served: tuple[Path, int]) -> None:
    folder, port = served
    script = block("By hand (with `standard_webhooks_secrets` set)", "bash")
    answer = run_bash(script, folder, port)
    assert answer["status"] == "accepted" and answer["cart_id"] == "cart-43"


def secret_of(folder: Path) -> str:
    import tomllib

    config = tomllib.loads((folder / "cart-recovery-data" / "config.toml").read_text())
    secret: str = config["webhook_secrets"][0]
    return secret


def sample(cart: str) -> dict[str, Any]:
    from datetime import UTC, datetime

    return {
        "event_id": f"{cart}-1",
        "type": "cart.updated",
        "cart_id": cart,
        "occurred_at": datetime.now(UTC).isoformat(),
        "email": "maya@example.com",
        "items": [{"title": "Linen shirt", "quantity": 1, "unit_price": "68.00"}],
        "currency": "USD",
    }


def test_the_python_sender_is_accepted(served: tuple[Path, int]) -> None:
    folder, port = served
    code = block("with nothing but the standard library:", "python")
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    send = namespace["send_cart_event"]
    url = f"http://127.0.0.1:{port}/webhooks/cart"
    answer = send(sample("py-1"), secret_of(folder), url=url)
    assert answer == {"status": "accepted", "event_id": "py-1-1"}
    assert send(sample("py-1"), secret_of(folder), url=url)["status"] == "duplicate"


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_the_node_sender_is_accepted(served: tuple[Path, int], tmp_path: Path) -> None:
    folder, port = served
    code = block("In Node (18 or later):", "js")
    script = tmp_path / "send.js"
    call = (
        f"sendCartEvent({json.dumps(sample('js-1'))}, {json.dumps(secret_of(folder))}, "
        f'"http://127.0.0.1:{port}/webhooks/cart")'
        ".then((a) => console.log(JSON.stringify(a)),"
        " (e) => { console.error(e); process.exit(1); });"
    )
    script.write_text(code + "\n" + call + "\n")
    out = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"status": "accepted", "event_id": "js-1-1"}
