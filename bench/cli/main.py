"""The ``synth2seg`` command line: one module per command group, and the entry point.

Mistakes a user can make (bad dataset, bad config, a bad option value, a full disk) surface as
one line on stderr and exit code 2; see :mod:`bench.api.errors`.
"""

from __future__ import annotations

import errno
import sqlite3
import sys

import typer

from bench.api.errors import UserError
from bench.cli import check, data, generator, replicate, report, run, train  # noqa: F401
from bench.cli.app import app, console, generator_app, segmenter_app

try:  # typer >= 0.20 carries its own copy of click
    from typer._click import exceptions as clicks
except ImportError:  # pragma: no cover (older typer runs on click itself)
    from click import exceptions as clicks

check.register(generator_app, segmenter_app, console)

# a path the user gave cannot be written or named: their environment, not a bug of synth2seg
_ENVIRONMENT = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT,
                errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP}
# the system ran out of something whichever file was being written: the reason is enough
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT}


def main() -> None:
    try:
        code = app(standalone_mode=False, prog_name="synth2seg")
    except UserError as exc:
        _fail(str(exc))
    except clicks.NoArgsIsHelpError as exc:  # a bare group: its help, as before
        exc.show()
        sys.exit(exc.exit_code)
    except clicks.UsageError as exc:  # a bad option value: one line, not typer's usage box
        where = exc.ctx.command_path if exc.ctx is not None else "synth2seg"
        _fail(f"{where}: {_one_line(exc.format_message())}")
    except clicks.ClickException as exc:
        _fail(_one_line(exc.format_message()))
    except typer.Abort:
        _fail("aborted", code=1)
    except OSError as exc:
        _fail(_environment(exc))
    except sqlite3.OperationalError as exc:
        if "disk is full" not in str(exc) and "disk I/O error" not in str(exc):
            raise
        _fail(f"results store: {exc}")
    sys.exit(code if isinstance(code, int) else 0)


def _environment(exc: OSError) -> str:
    """The line for an OSError the user's environment caused; any other is re-raised."""
    number = exc.errno if exc.errno is not None else (exc.args[0] if exc.args else None)
    if number not in _ENVIRONMENT or (exc.filename is None and number not in _NO_ROOM):
        raise exc
    reason = exc.strerror or _strerror(number)
    if exc.filename is None:
        return f"{reason}; free some space and run the command again"
    return f"{exc.filename}: {reason}"


def _strerror(number: int) -> str:
    import os

    return os.strerror(number)


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def _fail(message: str, code: int = 2) -> None:
    print(f"error: {_one_line(message)}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
