"""The ``oadr-gateway`` command: ``run``, ``db upgrade``, ``db current``, ``config show``,
``certs init``, ``history import``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gateway import __version__, settings_view
from gateway.observability.logs import configure_logging
from gateway.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from gateway.security.certs import FileOwner

# The ``gateway`` user of the Dockerfile (fixed, so that files can be given to it).
CONTAINER_UID = 10001
EXIT_BAD_CONFIG = 2
EXIT_USAGE = 2
logger = logging.getLogger("gateway")


# How the pool starts a worker: this same program (its arguments follow).
WORKER_COMMAND = (sys.executable, "-m", "gateway")
CONFIG_HELP = "TOML settings file (default: config/gateway.toml when it exists)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oadr-gateway", description=__doc__)
    parser.add_argument("--version", action="version", version=f"oadr-gateway {__version__}")
    parser.add_argument("--config", type=Path, default=None, help=CONFIG_HELP)
    # ``--config`` is taken after the subcommand too; not given there, the one before stands.
    config_file = argparse.ArgumentParser(add_help=False)
    config_file.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=CONFIG_HELP)
    settings = [config_file]
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="apply migrations and serve (admin API, workers)", parents=settings
    )
    run.add_argument(
        "--workers",
        metavar="N",
        type=_positive,
        default=1,
        help="serve with N processes sharing the admin and VTN ports (default: 1; N > 1 "
        "needs redis_url)",
    )
    # Set by the pool on the processes it starts (gateway.worker_pool), not by people.
    run.add_argument("--worker-index", type=_positive, default=None, help=argparse.SUPPRESS)
    db = commands.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="apply all migrations", parents=settings)
    db.add_parser("current", help="print the applied and the newest migration", parents=settings)
    config = commands.add_parser("config", help="settings").add_subparsers(
        dest="config_command", required=True
    )
    config.add_parser("show", help="print the settings in force (secrets masked)", parents=settings)
    history = commands.add_parser("history", help="meter history").add_subparsers(
        dest="history_command", required=True
    )
    history_import = history.add_parser(
        "import",
        help="import meter history from a CSV file (device_id,interval_start,kwh)",
        description="Import whole intervals of meter data: all rows or none; each refused "
        "row is printed with its line. Importing the same file again changes nothing.",
        parents=settings,
    )
    history_import.add_argument("file", metavar="FILE", type=Path, help="the CSV file")
    certs = commands.add_parser("certs", help="certificates for OpenADR over TLS").add_subparsers(
        dest="certs_command", required=True
    )
    init = certs.add_parser(
        "init",
        help="create a development CA, VTN and VEN certificates (no settings needed)",
        description="Create a development PKI for OpenADR over mutual TLS in DIR: ca.crt/ca.key, "
        "vtn.crt/vtn.key and ven-NAME.crt/ven-NAME.key, and print the certificates' "
        "OpenADR fingerprints. Not for production.",
    )
    init.add_argument(
        "directory",
        metavar="DIR",
        type=Path,
        nargs="?",
        default=Path("certs"),
        help="where to write the files (default: certs)",
    )
    vens = init.add_mutually_exclusive_group()
    vens.add_argument(
        "--vens",
        metavar="N",
        type=_count,
        default=1,
        help="make N VEN certificates named ven1..venN (default: 1)",
    )
    vens.add_argument(
        "--ven",
        metavar="NAME",
        action="append",
        dest="ven_names",
        help="make a VEN certificate with this name (repeatable; instead of --vens)",
    )
    init.add_argument(
        "--key-type", choices=("rsa", "ec"), default="ec", help="rsa 2048 or ec P-256 (default)"
    )
    init.add_argument(
        "--host",
        metavar="NAME",
        action="append",
        dest="hosts",
        help="a DNS name or IP address of the VTN (repeatable; default: localhost and 127.0.0.1)",
    )
    init.add_argument(
        "--owner",
        metavar="UID[:GID]",
        type=_owner,
        default=None,
        help="give every file to this user, e.g. the container's gateway user: 10001:10001 "
        "(needs root; default: whoever runs the command)",
    )
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    return parser


def _owner(value: str) -> FileOwner:
    from gateway.security.certs import FileOwner

    try:
        return FileOwner.parse(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _positive(value: str) -> int:
    count = _count(value)
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {value!r}")
    return count


def _count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if count < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {value!r}")
    return count


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "certs":  # needs no settings: works before any configuration exists
        return _certs_init(args)
    try:
        settings = load_settings(args.config)
    except SettingsError as err:
        print(f"oadr-gateway: {err}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "run":
        return _run(settings, args)
    if args.command == "db":
        return asyncio.run(_db(settings, args.db_command))
    if args.command == "history":
        return _history(settings, args.file)
    print(settings_view.render(settings))
    return 0


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.app import resolve_admin_token
    from gateway.server import run

    try:
        token = resolve_admin_token(settings)  # made here once, before any worker reads it
    except OSError as err:
        print(f"oadr-gateway: invalid setting data_dir: {err}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    if args.workers > 1 and args.worker_index is None:
        from gateway.worker_pool import run_pool

        # Each worker loads the same settings: the same file, the same environment.
        config = [] if args.config is None else ["--config", str(args.config)]
        return run_pool(settings, args.workers, [*WORKER_COMMAND, *config, "run"])
    return run(settings, token, args.worker_index)


def _certs_init(args: argparse.Namespace) -> int:
    from gateway.security.certs import DEFAULT_VTN_HOSTNAMES, PkiExistsError, init_dev_pki

    ven_names = args.ven_names or [f"ven{i}" for i in range(1, args.vens + 1)]
    try:
        pki = init_dev_pki(
            args.directory,
            ven_names=ven_names,
            key_type=args.key_type,
            vtn_hostnames=args.hosts or DEFAULT_VTN_HOSTNAMES,
            overwrite=args.force,
            owner=args.owner,
        )
    except PkiExistsError as err:
        print(f"oadr-gateway: {err} (use --force to replace them)", file=sys.stderr)
        return 1
    except ValueError as err:
        print(f"oadr-gateway: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:
        print(f"oadr-gateway: cannot write certificates: {err}", file=sys.stderr)
        return 1

    rows = [("role", "name", "certificate", "key", "fingerprint")]
    rows.append(("ca", "-", str(pki.ca_cert), str(pki.ca_key), "-"))
    rows.append(("vtn", pki.vtn.name, str(pki.vtn.cert), str(pki.vtn.key), pki.vtn.fingerprint))
    for ven in pki.vens:
        rows.append(("ven", ven.name, str(ven.cert), str(ven.key), ven.fingerprint))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(
        f"Development PKI ({args.key_type}) in {pki.directory}, "
        f"valid until {pki.not_valid_after:%Y-%m-%d}. Not for production."
    )
    print()
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    print()
    print(f"VTN: serve with {pki.vtn.cert} and {pki.vtn.key}; verify VENs with {pki.ca_cert}.")
    print(f"VEN: connect with its ven-NAME.crt/.key, trust {pki.ca_cert} and the VTN fingerprint.")
    print("Give each VEN's fingerprint to the VTN, and the VTN's fingerprint to the VENs.")
    if args.owner is None:
        print(
            f"Keys are readable by uid {os.geteuid()} only; for the container's gateway user "
            f"run again as root with --force --owner {CONTAINER_UID}:{CONTAINER_UID}."
        )
    return 0


async def _db(settings: Settings, command: str) -> int:
    from gateway.db import migrate
    from gateway.db.engine import Database
    from gateway.server import EXIT_FAILED
    from gateway.startup import StartupError, reason, upgrade_database

    db = Database(settings.resolved_database_url)
    try:
        if command == "upgrade":
            await upgrade_database(db)
        print(f"database: {db.describe()}")
        try:
            applied = await migrate.current_revision(db)
        except Exception as err:  # the driver's own error: one line naming the setting
            raise StartupError("database_url", db.describe(), reason(err)) from err
        print(f"applied:  {applied}")
        print(f"newest:   {migrate.head_revision()}")
    except StartupError as err:
        print(f"oadr-gateway: cannot open the database: {err}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await db.dispose()
    return 0


def _history(settings: Settings, path: Path) -> int:
    from gateway.server import EXIT_FAILED

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        print(f"oadr-gateway: cannot read {path}: {err}", file=sys.stderr)
        return EXIT_FAILED
    return asyncio.run(_history_import(settings, path, text))


async def _history_import(settings: Settings, path: Path, text: str) -> int:
    from gateway.clock import SystemClock
    from gateway.db.engine import Database
    from gateway.domain.errors import ValidationFailed
    from gateway.server import EXIT_FAILED
    from gateway.services.meter_history import MeterGrid, MeterHistoryService
    from gateway.startup import StartupError, upgrade_database

    db = Database(settings.resolved_database_url)
    grid = MeterGrid(settings.meter_interval_minutes, settings.meter_sample_seconds)
    try:
        await upgrade_database(db)
        report = await MeterHistoryService(db, SystemClock(), grid).import_csv(text)
    except StartupError as err:
        print(f"oadr-gateway: cannot open the database: {err}", file=sys.stderr)
        return EXIT_FAILED
    except ValidationFailed as err:
        print(f"oadr-gateway: {path}: nothing imported; refused:", file=sys.stderr)
        for problem in err.errors:
            print(f"  {problem.field}: {problem.message}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await db.dispose()
    print(report.model_dump_json())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
