"""``flask --app wsgi stripe-standin …``: run the Stripe stand-in, refund or dispute with it."""

from __future__ import annotations

import json
import signal
import threading

import click
import requests

from vpsshop.stripe_standin.server import StripeStandIn


@click.group("stripe-standin")
def stripe_standin() -> None:
    """The local Stripe stand-in (Checkout Sessions, a test payment page, signed webhooks)."""


@stripe_standin.command("serve")
@click.option("--port", type=click.IntRange(0, 65535), required=True, help="0 picks a free port.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--webhook-url", required=True, help="The shop's /api/v1/billing/stripe/webhook.")
@click.option(
    "--webhook-secret",
    envvar="STANDIN_WEBHOOK_SECRET",
    required=True,
    help="Signs the events (the shop's STRIPE_WEBHOOK_SECRET).",
)
@click.option("--api-key", envvar="STANDIN_API_KEY", default=None, help="Require this key.")
def serve(port: int, host: str, webhook_url: str, webhook_secret: str, api_key: str | None) -> None:
    """Serve until SIGINT or SIGTERM."""
    standin = StripeStandIn(
        host=host,
        port=port,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        api_key=api_key,
        quiet=False,
    )
    done = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        done.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        standin.start()
        click.echo(f"Stripe stand-in listening on {standin.url} (payments overview at /)")
        while not done.wait(0.5):
            pass
    finally:
        standin.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("Stripe stand-in stopped.")


def _post(url: str, data: dict) -> None:
    try:
        answer = requests.post(url, json=data, timeout=30)
    except requests.RequestException as error:
        raise click.ClickException(f"the stand-in did not answer: {error}") from None
    if answer.status_code >= 400:
        raise click.ClickException(answer.text[:500])
    record = answer.json()
    attempts = record.get("attempts", [])
    click.echo(json.dumps({"event": record["event"]["type"], "webhook": attempts}, indent=2))


@stripe_standin.command("refund")
@click.option("--url", required=True, help="The stand-in's base URL.")
@click.argument("payment_intent")
@click.option("--amount", type=click.IntRange(1), default=None, help="Minor units; all if unset.")
def refund(url: str, payment_intent: str, amount: int | None) -> None:
    """Refund a payment (all, or AMOUNT more) and send charge.refunded."""
    _post(f"{url.rstrip('/')}/control/payment_intents/{payment_intent}/refund", {"amount": amount})


@stripe_standin.command("dispute")
@click.option("--url", required=True, help="The stand-in's base URL.")
@click.argument("payment_intent")
def dispute(url: str, payment_intent: str) -> None:
    """Open a dispute on a payment and send charge.dispute.created."""
    _post(f"{url.rstrip('/')}/control/payment_intents/{payment_intent}/dispute", {})
