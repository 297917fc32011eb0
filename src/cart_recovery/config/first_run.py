"""The config file a first run writes: working defaults and freshly generated secrets."""

from __future__ import annotations

import secrets


def new_config_text() -> str:
    """A first-run config file with freshly generated secrets."""
    return f"""\
# cart-recovery configuration. Environment variables (CART_RECOVERY_*) override these.
host = "127.0.0.1"
port = 8080
# The public URL of this service, used in the links inside emails.
# base_url = "https://recovery.your-store.com"

# The storefront signs each webhook with this secret (HMAC-SHA256). During a rotation,
# list the new and the old one: ["new...", "old..."].
webhook_secrets = ["{secrets.token_urlsafe(32)}"]

# Shopify: the app's client secret (Settings > Notifications > Webhooks shows it for webhooks
# made in the admin); Shopify's deliveries then go to POST /webhooks/shopify.
# shopify_secrets = ["..."]
# Standard Webhooks senders: the whsec_... secret; deliveries to POST /webhooks/standard.
# standard_webhooks_secrets = ["whsec_..."]

# Signs unsubscribe, return and owner action links, and keys the unsubscribe list (kept as
# keyed hashes of addresses). Keep it: changing it breaks links in emails already sent, and
# the service refuses to start on an unsubscribe list written under another key.
signing_key = "{secrets.token_urlsafe(32)}"

# The owner's dashboard login.
admin_token = "{secrets.token_urlsafe(24)}"

mail_from = "Your Store <shop@example.com>"
# Who gets the monthly summary (first Monday, 9am store time).
# owner_emails = ["you@your-store.com"]
# Without smtp_url, emails are written as .eml files to the outbox folder.
# smtp_url = "smtp://user:password@smtp.example.com:587?starttls=true"

# The nightly export (2am store time) goes to exports/ as .xlsx and .csv; to also fill a
# Google Sheet, share it with a service account and name both here:
# sheets_spreadsheet_id = "1AbC..."
# sheets_service_account_file = "/path/to/service-account.json"

# To follow the rules and voice from two Google Docs shared with a service account:
# google_docs_rules_id = "1AbC..."
# google_docs_voice_id = "1DeF..."
# google_service_account_file = "/path/to/service-account.json"
"""
