"""The ``synth2seg`` command line: one module per command group, and the entry point.

Mistakes a user can make (bad dataset, bad config) surface as one line on stderr and exit code 2;
see :mod:`bench.api.errors`.
"""

from __future__ import annotations

import errno
import sys

from bench.api.errors import UserError
from bench.cli import check, data, generator, report, run, train  # noqa: F401 (their commands)
from bench.cli.app import app, console, generator_app, segmenter_app

check.register(generator_app, segmenter_app, console)

# a path the user gave cannot be written: their environment, not a bug of synth2seg
_ENVIRONMENT = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT,
                errno.ENOTDIR, errno.EISDIR}


def main() -> None:
    try:
        app()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        if exc.errno not in _ENVIRONMENT or exc.filename is None:
            raise
        print(f"error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
