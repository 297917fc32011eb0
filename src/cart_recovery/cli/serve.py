"""``cart-recovery serve``: the embedded runtime in one process."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import click

from cart_recovery.cli.options import data_dir_option, data_dir_settings

GC_YOUNG = 50_000  # allocations between two young collections (CPython's default: 700)


@click.command()
@data_dir_option
@click.option("--host", default=None, help="Listen address (env CART_RECOVERY_HOST).")
@click.option("--port", type=int, default=None, help="Listen port (env CART_RECOVERY_PORT).")
def serve(data_dir: Path, host: str | None, port: int | None) -> None:
    """Run the service: webhook, unsubscribe, and the reminder timers, in one process."""
    import uvicorn

    from cart_recovery.bootstrap.backups import BackupError, hold_data_dir
    from cart_recovery.bootstrap.embedded import embedded, init_data_dir
    from cart_recovery.embedded.http import OneWriteProtocol
    from cart_recovery.embedded.logs import setup_logging

    environ = dict(os.environ)
    if host:
        environ["CART_RECOVERY_HOST"] = host
    if port is not None:
        environ["CART_RECOVERY_PORT"] = str(port)
    created = init_data_dir(data_dir)
    settings = data_dir_settings(data_dir, environ)
    try:
        lock = hold_data_dir(settings)  # released when the process ends, however it ends
    except BackupError as e:
        raise click.ClickException(str(e)) from None
    try:
        clock = None
        if environ.get("CART_RECOVERY_CLOCK"):  # accelerated time, for rehearsals and tests
            from cart_recovery.embedded.clock import OffsetClock

            clock = OffsetClock.parse(environ["CART_RECOVERY_CLOCK"])
        runtime = embedded(settings, clock=clock)
    except (ValueError, RuntimeError) as e:
        raise click.ClickException(str(e)) from None
    where = settings.data_dir.resolve()
    if created:
        click.echo(f"Created {', '.join(p.name for p in created)} in {where}")
    click.echo(f"Data folder:   {where}")
    click.echo(f"Rules doc:     {settings.rules_file.resolve()}")
    click.echo(f"Voice doc:     {settings.voice_file.resolve()}")
    click.echo(f"Config:        {(settings.data_dir / 'config.toml').resolve()}")
    mail = "SMTP" if settings.smtp_url else f"outbox folder {settings.outbox.resolve()}"
    click.echo(f"Mail goes to:  {mail}")
    click.echo(f"Webhook URL:   POST {settings.webhook_url}  (secret: webhook_secrets in config)")
    click.echo(f"Health:        {settings.base_url}/healthz")
    click.echo(f"Dashboard:     {settings.base_url}/admin  (sign in with admin_token in config)")
    sys.stdout.flush()
    setup_logging()
    # Everything loaded so far lives as long as the process: keep it out of the collector's
    # scans, which would otherwise walk it on every full collection under load. And collect
    # the young generation less often: under load each collection walks every request in
    # flight (their futures, tasks and buffers), most of which refcounting frees anyway.
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])
    try:
        uvicorn.run(
            runtime.app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            server_header=False,
            http=OneWriteProtocol,
        )
    finally:
        runtime.close()
        lock.release()
