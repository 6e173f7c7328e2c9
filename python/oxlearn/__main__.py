"""Run a program with scikit-learn patched.

``python -m oxlearn [-m module | script.py] [args...]``
"""

import runpy
import sys

from oxlearn import patch_sklearn

USAGE = "usage: python -m oxlearn [-m module | script.py] [args ...]"


def main(argv=None):
    """Patch scikit-learn, then run a script or module as ``__main__``.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments after ``-m oxlearn``; defaults to ``sys.argv[1:]``.

    Returns
    -------
    status : int
        2 on a usage error, else 0 (the program's own ``SystemExit`` propagates).
    """
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 2
    patch_sklearn()
    if argv[0] == "-m":
        if len(argv) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv
        runpy.run_path(argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
