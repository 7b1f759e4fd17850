"""Entry point of the ``lienthong`` command."""

from __future__ import annotations

import logging
import sys

import typer

from lienthong import __version__
from lienthong.cli import demo_cmd, edxml_cmd
from lienthong.cli.output import err

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="lienthong — liên thông văn bản điện tử / exchange of official documents.",
)
app.add_typer(edxml_cmd.app, name="edxml")
app.add_typer(demo_cmd.app, name="demo")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    """Run the command line; an unexpected failure is reported in one line, not a traceback."""
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        err.print("Đã dừng / interrupted")
        sys.exit(130)
    except Exception as exc:  # the last line of defence for the user
        logging.getLogger("lienthong").debug("unexpected error", exc_info=True)
        err.print(f"[red]Lỗi nội bộ / internal error[/]: {type(exc).__name__}: {exc}")
        sys.exit(70)
