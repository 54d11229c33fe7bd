"""The HTTP API (aiohttp): health and metrics, the /v1 member API, the /v1/admin operator
API, the Stripe webhook (docs/api.md)."""
