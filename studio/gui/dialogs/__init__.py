"""Dialogs opened from the pages (one dialog per module)."""
