"""The buyer's API: products, purchase, sessions, log and events."""
