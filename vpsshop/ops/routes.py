"""Routes of the operational endpoints."""
