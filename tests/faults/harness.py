"""Run a command with one function slowed down, so a test can SIGKILL it at a known point.

Usage: ``python harness.py -m MODULE ARGS...`` (as ``python -m MODULE ARGS...``) or
``python harness.py SCRIPT ARGS...``. Environment: ``FAULT_PATCH='pkg.module:function'``; after
``FAULT_AFTER`` calls the wrapper creates ``FAULT_MARKER`` and sleeps ``FAULT_DELAY`` s on every later
call. Without ``FAULT_PATCH`` the command runs unchanged.
"""
import importlib
import os
import runpy
import sys
import time


def _install():
    spec = os.environ.get("FAULT_PATCH")
    if not spec:
        return
    module_name, func_name = spec.split(":")
    module = importlib.import_module(module_name)
    original = getattr(module, func_name)
    after = int(os.environ.get("FAULT_AFTER", "1"))
    marker = os.environ["FAULT_MARKER"]
    delay = float(os.environ.get("FAULT_DELAY", "600"))
    calls = [0]

    def slowed(*args, **kwargs):
        calls[0] += 1
        if calls[0] > after:
            open(marker, "w").close()
            time.sleep(delay)
        return original(*args, **kwargs)

    setattr(module, func_name, slowed)


if __name__ == "__main__":
    _install()
    if sys.argv[1] == "-m":
        module = sys.argv[2]
        sys.argv = [module] + sys.argv[3:]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        script = sys.argv[1]
        sys.argv = sys.argv[1:]
        runpy.run_path(script, run_name="__main__")
