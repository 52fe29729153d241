"""``python -m vpsshop.simulator``: the simulated node's command without the shop's app."""

from vpsshop.simulator.cli import simulate_worker

if __name__ == "__main__":
    simulate_worker(prog_name="python -m vpsshop.simulator")
