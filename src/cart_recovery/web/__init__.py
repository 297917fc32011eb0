"""The ASGI app: webhooks, unsubscribe, return links, health."""
