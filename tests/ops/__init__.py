"""Tests of the operational endpoints."""
