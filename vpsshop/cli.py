"""Command-line tools: ``flask --app wsgi <command>``."""

from __future__ import annotations

import click
from flask import Flask, current_app

from vpsshop.errors import ServiceError
from vpsshop.extensions import db
from vpsshop.services import accounts, ledger


def register_cli(app: Flask) -> None:
    app.cli.add_command(create_user)
    app.cli.add_command(generate_key)
    app.cli.add_command(rq_worker)
    app.cli.add_command(rotate_keys)
    from vpsshop.simulator.cli import simulate_worker

    app.cli.add_command(simulate_worker)
    from vpsshop.stripe_standin.cli import stripe_standin

    app.cli.add_command(stripe_standin)


@click.command("create-user")
@click.argument("email")
@click.option("--password", required=True, help="At least 8 characters.")
@click.option("--admin", is_flag=True, help="Give the account the admin role.")
@click.option("--coins", type=int, default=0, show_default=True, help="Starting coins.")
def create_user(email: str, password: str, admin: bool, coins: int) -> None:
    """Create an account; starting coins go through the ledger."""
    try:
        user = accounts.create_user(email, password, is_admin=admin)
        if coins:
            ledger.add(user.id, coins, reason="initial coins (create-user)")
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    click.echo(
        f"Created {'admin' if admin else 'user'} {user.email} ({user.id}) with {user.coins} coins."
    )


@click.command("generate-key")
def generate_key() -> None:
    """Print a new key for ENCRYPTION_KEYS."""
    from vpsshop.services.crypto import generate_key as new_key

    click.echo(new_key())


@click.command("rotate-keys")
@click.option("--batch-size", type=click.IntRange(min=1), default=500, show_default=True)
def rotate_keys(batch_size: int) -> None:
    """Re-encrypt every stored secret under the newest key of ENCRYPTION_KEYS."""
    from vpsshop.services.key_rotation import rotate_all

    reports = rotate_all(batch_size=batch_size)
    for report in reports:
        click.echo(report.summary())
    for report in reports:
        if report.undecryptable:
            # Reported, never dropped: the key they need may be missing from the list.
            click.echo(
                f"warning: {len(report.undecryptable)} value(s) of {report.label} decrypt with "
                f"no key in ENCRYPTION_KEYS and were left as they are; ids: "
                + ", ".join(report.undecryptable),
                err=True,
            )


@click.command("rq-worker")
@click.option(
    "--worker-class",
    type=click.Choice(["fork", "simple"]),
    default="fork",
    show_default=True,
    help="fork: a process per job (Heroku-style SIGTERM); simple: jobs run in this process.",
)
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--no-scheduler", is_flag=True, help="Do not run RQ's scheduler here.")
def rq_worker(worker_class: str, burst: bool, no_scheduler: bool) -> None:
    """Run an RQ worker whose jobs run inside this app's context."""
    from vpsshop.queue import get_redis, worker_queues
    from vpsshop.rq_worker import WORKER_CLASSES

    cls = WORKER_CLASSES[worker_class]
    cls.flask_app = current_app._get_current_object()
    redis_conn = get_redis()
    redis_conn.ping()  # fail fast and readably when Redis is down
    worker = cls(worker_queues(), connection=redis_conn)
    keeper = None
    if not no_scheduler:
        from vpsshop.rq_worker import ScheduleKeeper
        from vpsshop.services.sweeper import ensure_sweep_scheduled

        ensure_sweep_scheduled(delay=1.0)
        keeper = ScheduleKeeper(cls.flask_app)
        keeper.tick_once()
        if not burst:
            keeper.start()
    db.engine.dispose()
    try:
        # RQ's own scheduler is not started: the keeper does its work from every worker.
        worker.work(burst=burst, with_scheduler=False)
    finally:
        if keeper is not None:
            keeper.stop()
