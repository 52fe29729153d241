"""Reliability: node faults, outages, crashes, random lifecycles, bad input, access."""
