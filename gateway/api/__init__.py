"""The HTTP API (aiohttp): health, metrics, history, places, admin, webhooks."""
