"""Reusable widgets; one widget per module."""
