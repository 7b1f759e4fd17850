"""Console output shared by the commands: errors in Vietnamese and English, never a traceback."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from lienthong.domain.errors import LienthongError

#: Results go to stdout; progress, warnings and errors to stderr.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def print_json(data: Any) -> None:
    """Write JSON to stdout, UTF-8, unescaped Vietnamese, one document."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def fail(error: LienthongError, *, exit_code: int = EXIT_USAGE) -> NoReturn:
    """Report a coded error in both languages on stderr and exit."""
    detail = f" — {error.detail}" if error.detail else ""
    where = f" ({error.path})" if error.path else ""
    message = f"{error.code}{where}: {error.message_vi} / {error.message_en}{detail}"
    err.print(f"[bold red]Lỗi / Error[/] {escape(message)}")
    raise typer.Exit(exit_code)
