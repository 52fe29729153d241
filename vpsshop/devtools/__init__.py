"""Tools for running vpsshop locally: the embedded Redis, demo seeding, the process group."""
