"""Database adapter: SQLAlchemy 2 async models, engines, migrations and repositories."""
