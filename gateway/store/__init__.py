"""Storage: TimescaleDB through psycopg 3 (migrations, pool, batch writer, queries)."""
