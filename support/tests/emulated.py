"""One running emulator (support/emulator.py) per test class, for the emulator's own tests.

Why a module: every test file of support/tests needs the same plumbing (start the emulator as a
subprocess, read its ready line, keep its stderr and show it when a test fails, stop it without
ever waiting forever, write control.json atomically), and one copy of it is easier to keep right
than three. What each file tests, and its helpers, stay in that file.
"""

import json
import os
import selectors
import subprocess
import sys
import tempfile
import unittest
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
READY_TIMEOUT = 120  # seconds for the ready line: starting moto takes a few
STOP_TIMEOUT = 10  # seconds for each of SIGTERM and SIGKILL to end it


class Emulator:
    """support/emulator.py as a subprocess, with `args` and a --work directory of its own.

    Its ready line gives endpoint (the strict proxy), moto and work; its stderr is kept in a
    file, read by stderr(). stop() ends it and removes its files."""

    def __init__(self, *args, prefix="emulator-"):
        self.tmp = tempfile.TemporaryDirectory(prefix=prefix)
        self.err = open(os.path.join(self.tmp.name, "emulator.stderr"), "wb")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "support", "emulator.py"),
             "--work", os.path.join(self.tmp.name, "work"), *args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self.err, start_new_session=True,
        )
        try:
            ready = json.loads(self._ready_line())
            self.endpoint, self.moto, self.work = ready["endpoint"], ready["moto"], ready["work"]
        except Exception as e:
            log = self.stderr()
            self.stop()
            raise RuntimeError(f"the emulator did not start ({e!r}):\n{log}") from None

    def _ready_line(self):
        """The emulator's one line on stdout, waited for at most READY_TIMEOUT seconds."""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(READY_TIMEOUT):
                raise TimeoutError(f"no ready line within {READY_TIMEOUT}s")
        return self.proc.stdout.readline()  # the emulator writes it whole, then flushes

    def stop(self):
        """SIGTERM, then SIGKILL; each wait has a timeout. Safe to call twice."""
        try:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=STOP_TIMEOUT)
        finally:
            self.proc.stdout.close()
            self.err.close()
            self.tmp.cleanup()

    def stderr(self):
        """What the emulator wrote to stderr so far ("" once it is stopped)."""
        try:
            with open(self.err.name, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def control(self, conf):
        """Replace <work>/control.json, atomically: the emulator may read it at any time."""
        path = os.path.join(self.work, "control.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(conf, f)
        os.replace(path + ".tmp", path)

    def stats(self):
        """The proxy's request counts (GET /_amipub/stats)."""
        with urllib.request.urlopen(self.endpoint + "/_amipub/stats", timeout=30) as r:
            return json.load(r)


class EmulatedTestCase(unittest.TestCase):
    """Tests sharing one emulator per class: self.emu, with self.endpoint, self.work and
    self.control() for short. When a test fails or errs, the emulator's stderr is printed."""

    emulator_args = ()  # extra command-line arguments of support/emulator.py
    emulator_class = Emulator  # a subclass may add helpers
    stderr_limit = None  # print only this many last characters of the stderr (None: all)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.emu = cls.emulator_class(*cls.emulator_args, prefix=f"{cls.__name__}-")
        cls.endpoint, cls.work = cls.emu.endpoint, cls.emu.work

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()
        super().tearDownClass()

    def control(self, conf):
        self.emu.control(conf)

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        emu = getattr(self, "emu", None)  # None if the class was skipped
        if emu is not None and len(result.failures) + len(result.errors) > before:
            log = emu.stderr()
            if self.stderr_limit is not None:
                log = log[-self.stderr_limit:]
            print(f"\n--- emulator stderr ---\n{log}\n---", file=sys.stderr)
        return out
