"""``cart-recovery`` and ``python -m cart_recovery``: the command line (the ``serve`` extra)."""

from __future__ import annotations

import sys

SERVE_EXTRA = frozenset({"click", "rich", "uvicorn", "prometheus_client"})


def run() -> None:
    """The command line; without the ``serve`` extra installed, a message naming it."""
    try:
        from cart_recovery.cli import main
    except ModuleNotFoundError as e:
        if e.name not in SERVE_EXTRA:
            raise
        sys.exit(
            f"cart-recovery: the command line needs the serve extra ({e.name} is missing): "
            "pip install 'cart-recovery[serve]'"
        )
    main()


if __name__ == "__main__":
    run()
