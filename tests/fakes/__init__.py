"""Fakes we own at the boundary: small servers that speak an outside API on 127.0.0.1."""
