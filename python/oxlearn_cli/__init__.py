"""The ``oxlearn`` command that ``pip install oxlearn`` puts on PATH.

It runs the command line of the Rust ``oxlearn`` binary inside oxlearn's
compiled extension (``oxlearn._core.cli_main``, the same Rust code): the same
commands, output and exit codes. The extension is loaded on its own, without
importing the ``oxlearn`` package and scikit-learn with it, so a command
starts in milliseconds rather than a second and ``oxlearn serve`` holds no
Python library in memory. This module is outside the ``oxlearn`` package for
that reason: importing ``oxlearn.anything`` runs ``oxlearn/__init__.py``.
"""

import importlib.machinery
import importlib.util
import os
import signal
import sys


def _load_core():
    """Load the installed ``oxlearn._core`` extension without its package.

    Returns
    -------
    module
        The extension module.

    Raises
    ------
    ImportError
        When oxlearn or its compiled extension is not installed.
    RuntimeError
        When the extension refuses to load (an ``OXLEARN_SIMD`` level this
        CPU lacks, as the binary refuses it).
    """
    spec = importlib.util.find_spec("oxlearn")  # finds the package, runs nothing
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "_core" + suffix)
            if os.path.exists(path):
                loader = importlib.machinery.ExtensionFileLoader("oxlearn._core", path)
                found = importlib.util.spec_from_file_location("oxlearn._core", path,
                                                               loader=loader)
                module = importlib.util.module_from_spec(found)
                loader.exec_module(module)
                return module
    raise ImportError(f"the compiled oxlearn._core extension is not installed (in {folders})")


def main(argv=None):
    """Run the ``oxlearn`` command line.

    Parameters
    ----------
    argv : list of str, optional
        The command line, program name first; ``sys.argv`` by default.

    Returns
    -------
    int
        The exit status, the binary's: 0 success, 1 failure, 2 usage error.
    """
    argv = sys.argv if argv is None else argv
    try:
        core = _load_core()
    except (ImportError, RuntimeError) as e:
        # What the binary does before any work: the message, exit status 2.
        print(f"oxlearn: {e}", file=sys.stderr)
        return 2
    # Ctrl-C belongs to the command, as in the binary: `serve` shuts down
    # gracefully, anything else stops. Python's handler would only raise
    # KeyboardInterrupt once the command has returned.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    return core.cli_main(list(argv))
