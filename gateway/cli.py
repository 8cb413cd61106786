"""The ``oadr-gateway`` command: ``run``, ``db upgrade``, ``db current``, ``config show``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from gateway import __version__
from gateway.settings import Settings, SettingsError, load_settings

EXIT_BAD_CONFIG = 2
logger = logging.getLogger("gateway")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oadr-gateway", description=__doc__)
    parser.add_argument("--version", action="version", version=f"oadr-gateway {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML settings file (default: config/gateway.toml when it exists)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="apply migrations and serve (admin API, workers)")
    db = commands.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="apply all migrations")
    db.add_parser("current", help="print the applied and the newest migration")
    config = commands.add_parser("config", help="settings").add_subparsers(
        dest="config_command", required=True
    )
    config.add_parser("show", help="print the settings in force (secrets hidden)")
    return parser


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Alembic announces each of its plugins at INFO on every start.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(level)))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except SettingsError as err:
        print(f"oadr-gateway: {err}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    _configure_logging(settings.log_level)
    if args.command == "run":
        return _run(settings)
    if args.command == "db":
        return asyncio.run(_db(settings, args.db_command))
    print(settings.model_dump_json(indent=2))
    return 0


def _run(settings: Settings) -> int:
    from aiohttp import web

    from gateway.app import build_app, resolve_admin_token

    try:
        token = resolve_admin_token(settings)
    except OSError as err:
        print(f"oadr-gateway: invalid setting data_dir: {err}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    app = build_app(settings, admin_token=token)
    logger.info(
        "oadr-gateway %s serving on http://%s:%d",
        __version__,
        settings.http_host,
        settings.http_port,
    )
    try:
        web.run_app(
            app, host=settings.http_host, port=settings.http_port, print=None, shutdown_timeout=10
        )
    except OSError as err:
        print(f"oadr-gateway: cannot serve: {err}", file=sys.stderr)
        return 1
    return 0


async def _db(settings: Settings, command: str) -> int:
    from gateway.db import migrate
    from gateway.db.engine import Database

    db = Database(settings.resolved_database_url)
    try:
        if command == "upgrade":
            await migrate.upgrade(db)
        print(f"database: {db.describe()}")
        print(f"applied:  {await migrate.current_revision(db)}")
        print(f"newest:   {migrate.head_revision()}")
    finally:
        await db.dispose()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
