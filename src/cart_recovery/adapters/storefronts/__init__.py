"""Storefront sources: each verifies its own signature and normalises into one CartEvent."""
