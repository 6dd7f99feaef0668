"""`riskpilot db ...`: create, migrate and inspect the relational store."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from riskpilot.cli.common import DB_HELP, DB_URL_ENV

if TYPE_CHECKING:
    from sqlalchemy import Engine


def register(app: typer.Typer) -> None:
    db_app = typer.Typer(help="Create, migrate and inspect the relational store.", no_args_is_help=True)

    def _engine(db: str | None) -> Engine:
        from riskpilot.store.database import StoreConfigError, make_engine

        try:
            return make_engine(db)
        except StoreConfigError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc

    @db_app.command("upgrade")
    def upgrade_cmd(
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=DB_HELP),
        revision: str = typer.Option("head", help="Target revision (default: the latest)."),
    ) -> None:
        """Create the schema, or migrate it to the latest revision."""
        from riskpilot.store.database import current_revision, upgrade

        engine = _engine(db)
        try:
            before = current_revision(engine)
            upgrade(engine, revision)
            after = current_revision(engine)
        finally:
            engine.dispose()
        url = engine.url.render_as_string(hide_password=True)
        if before == after:
            typer.echo(f"{url}: already at revision {after}")
        else:
            typer.echo(f"{url}: migrated {before or 'empty'} -> {after}")

    @db_app.command("downgrade")
    def downgrade_cmd(
        revision: str = typer.Argument(..., help="Target revision, or 'base' to drop everything."),
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=DB_HELP),
    ) -> None:
        """Migrate the schema down to an earlier revision."""
        from riskpilot.store.database import current_revision, downgrade

        engine = _engine(db)
        try:
            downgrade(engine, revision)
            typer.echo(f"now at revision {current_revision(engine) or 'empty'}")
        finally:
            engine.dispose()

    @db_app.command("current")
    def current_cmd(
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=DB_HELP),
    ) -> None:
        """Show the database's schema revision and the latest one; exit 1 when behind."""
        from riskpilot.store.database import current_revision, head_revision

        engine = _engine(db)
        try:
            have = current_revision(engine)
        finally:
            engine.dispose()
        want = head_revision()
        typer.echo(f"database revision: {have or 'empty'}; latest: {want}")
        if have != want:
            typer.echo("run `riskpilot db upgrade` to migrate", err=True)
            raise typer.Exit(1)

    app.add_typer(db_app, name="db")
