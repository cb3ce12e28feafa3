"""Storage: models, queries and migrations (SQLAlchemy 2 async; SQLite or PostgreSQL)."""
