"""Security tests: rate limits, sessions, headers, secrets at rest."""
