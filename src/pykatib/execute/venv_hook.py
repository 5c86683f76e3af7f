"""Copied by pykatib into each experiment's virtual environment as ``_pykatib_venv.py`` and loaded by a
``.pth`` file at every start of its python: pykatib's own packages become importable after the environment's
own (``site.addsitedir``, so their ``.pth`` files count too), and pip runs one at a time there, so trials that
install packages at once never interleave their writes. Every way of starting pip is caught (``python -m pip``,
a ``pip`` script, ``sys.executable -m pip`` from a trial's code), because the lock is taken inside pip's python.

It imports nothing of pykatib's (it runs before pykatib is importable) and costs little: every python a
trial starts runs it.
"""

import os
import site
import sys

SITE_DIRS_FILE = "pykatib-site-dirs"  # in the environment's root: pykatib's site-packages, one per line
PIP_LOCK_FILE = "pip.lock"
LOCK_ENV = "PYKATIB_PIP_LOCK"  # set while held: pip's own child pythons must not wait for their parent
_PYTHON_OPTIONS_WITH_VALUE = "cmWX"  # -c CMD, -m MOD, -W ARG, -X OPT (the value may follow in the same word)
_held: list[object] = []  # the open lock file (typing is not imported: every python start pays for it)


def add_pykatib_site_dirs(prefix: str) -> None:
    """pykatib's site-packages, after this environment's own: installed packages come first."""
    try:
        with open(os.path.join(prefix, SITE_DIRS_FILE), encoding="utf-8") as file:
            directories = file.read().splitlines()
    except OSError:
        return
    for directory in directories:
        if directory:
            site.addsitedir(directory)


def _is_pip_script(path: str) -> bool:
    name = os.path.basename(path)
    return name == "pip" or (name.startswith("pip") and name[3:].replace(".", "").isdigit())


def runs_pip(argv: list[str]) -> bool:
    """Whether a python command line (``sys.orig_argv``) runs pip: ``-m pip`` or a ``pip``/``pip3.11`` script."""
    words = iter(argv[1:])
    for word in words:
        if word == "--" or not word.startswith("-") or word == "-":
            script = next(words, "") if word == "--" else word
            return _is_pip_script(script)
        if word.startswith("--"):
            if word == "--check-hash-based-pycs":
                next(words, None)
            continue
        for i, letter in enumerate(word[1:], start=2):  # a cluster of short options: -um pip, -uc CODE
            if letter in _PYTHON_OPTIONS_WITH_VALUE:
                value = word[i:] or next(words, "")
                if letter == "m":
                    return value == "pip"
                if letter == "c":
                    return False
                break
    return False


def lock_pip(prefix: str, argv: list[str]) -> None:
    """Hold the environment's pip lock for this process's life when it runs pip (not when its parent holds it)."""
    if _held or os.environ.get(LOCK_ENV) == prefix or not runs_pip(argv):
        return
    import fcntl

    lock = open(os.path.join(prefix, PIP_LOCK_FILE), "a", encoding="utf-8")  # noqa: SIM115 (held until exit)
    fcntl.flock(lock, fcntl.LOCK_EX)
    _held.append(lock)
    os.environ[LOCK_ENV] = prefix


if __name__ == "_pykatib_venv":  # loaded by the environment's .pth file, not imported from pykatib
    add_pykatib_site_dirs(sys.prefix)
    lock_pip(sys.prefix, sys.orig_argv)
