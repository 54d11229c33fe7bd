"""Live streams of circles: the hub and its SSE/WebSocket endpoints."""
