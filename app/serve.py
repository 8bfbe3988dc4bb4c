"""``python -m app.serve [gunicorn options]``: gunicorn, after checking what it reads itself.

gunicorn reads ``WEB_CONCURRENCY`` on its own, with a bare ``int()`` while its config module is
imported, before any config file: a bad value (``WEB_CONCURRENCY=two``) ends in a ``ValueError``
traceback that never names the variable, even for ``gunicorn --version``. This entry point
checks it first with the project's reader (a whole number >= 1, else one line naming it and
exit status 1), then runs gunicorn in the same process with the arguments given (``make run``,
the image and the tests pass ``--config gunicorn.conf.py``). Imports no Django code.
"""

from __future__ import annotations

import sys

from app.envconfig import Env


def main(argv: list[str]) -> None:
    """Check the variables gunicorn parses itself, then hand ``argv`` to gunicorn."""
    Env(error=SystemExit).integer("WEB_CONCURRENCY", 1, minimum=1)
    from gunicorn.app.wsgiapp import run  # noqa: PLC0415  # reads WEB_CONCURRENCY on import

    sys.argv = ["gunicorn", *argv]
    run(prog="gunicorn")


if __name__ == "__main__":
    main(sys.argv[1:])
