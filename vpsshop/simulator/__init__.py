"""The reference worker node: a real HTTP server speaking shared/worker-api.md."""

from vpsshop.simulator.node import ENDPOINTS, FAULTS, SimulatedNode

__all__ = ["ENDPOINTS", "FAULTS", "SimulatedNode"]
