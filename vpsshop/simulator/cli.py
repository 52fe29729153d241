"""``flask --app wsgi simulate-worker``: run the simulated worker node until a signal."""

from __future__ import annotations

import signal
import threading

import click

from vpsshop.simulator.node import FAULTS, SimulatedNode


def _parse_faults(values: tuple[str, ...]) -> dict[str, str]:
    faults: dict[str, str] = {}
    for value in values:
        endpoint, sep, mode = value.partition("=")
        if not sep or endpoint not in FAULTS or mode not in FAULTS[endpoint]:
            choices = "; ".join(f"{e}={'|'.join(sorted(m))}" for e, m in FAULTS.items())
            raise click.BadParameter(f"{value!r} is not one of {choices}", param_hint="--fault")
        faults[endpoint] = mode
    return faults


@click.command("simulate-worker")
@click.option("--port", type=click.IntRange(0, 65535), required=True, help="0 picks a free port.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--boot-seconds", type=click.FloatRange(0), default=15.0, show_default=True)
@click.option("--capacity", type=click.IntRange(0), default=3, show_default=True)
@click.option("--token", envvar="SIM_NODE_TOKEN", default=None, help="Require this Bearer token.")
@click.option("--fault", "faults", multiple=True, metavar="ENDPOINT=MODE", help="e.g. log=huge.")
@click.option("--fail-stops", type=click.IntRange(0), default=0, help="Fail the next N stops.")
@click.option("--slow-seconds", type=click.FloatRange(0), default=3.0, show_default=True)
@click.option("--huge-log-mb", type=click.IntRange(0), default=100, show_default=True)
@click.option("--extra-log-line", "extra_log_lines", multiple=True, help="Inject into logs.")
@click.option("--quiet", is_flag=True, help="Do not log each request.")
@click.option(
    "--record-requests",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="How many of the latest requests GET /_sim/stats lists.",
)
def simulate_worker(
    port: int,
    host: str,
    boot_seconds: float,
    capacity: int,
    token: str | None,
    faults: tuple[str, ...],
    fail_stops: int,
    slow_seconds: float,
    huge_log_mb: int,
    extra_log_lines: tuple[str, ...],
    quiet: bool,
    record_requests: int,
) -> None:
    """Run a simulated worker node (shared/worker-api.md) until SIGINT or SIGTERM."""
    node = SimulatedNode(
        host=host,
        port=port,
        boot_seconds=boot_seconds,
        capacity=capacity,
        token=token,
        faults=_parse_faults(faults),
        fail_stops=fail_stops,
        slow_seconds=slow_seconds,
        huge_log_mb=huge_log_mb,
        extra_log_lines=extra_log_lines,
        quiet=quiet,
        max_recorded_requests=record_requests,
    )
    done = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        done.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        node.start()
        click.echo(f"Simulated worker node listening on {node.url}", err=False)
        # Short waits so the signal handler gets to run on the main thread promptly.
        while not done.wait(0.5):
            pass
    finally:
        node.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("Simulated worker node stopped.")
