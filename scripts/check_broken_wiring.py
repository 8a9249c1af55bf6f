"""Mutation check of the slider tests (`make check-wiring`): cut every `*_slider.observe(...)` line (in
copies of the notebooks; the repo is not touched) and require every slider test to fail.

Runs tests/test_widgets.py and tests/test_browser.py with CFGRL_BREAK_SLIDER_WIRING=1, reads pytest's JUnit
report, prints the first line of each failure, and exits 1 if any slider test passed or was skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTS = ["tests/test_widgets.py", "tests/test_browser.py"]
NOT_SLIDER_TESTS = {"test_sliders_are_discovered"}  # a discovery check; the wiring does not matter to it


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        env = dict(os.environ, CFGRL_BREAK_SLIDER_WIRING="1", CFGRL_REQUIRE_BROWSER="1")
        cmd = [sys.executable, "-m", "pytest", *TESTS, "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
        print("$ CFGRL_BREAK_SLIDER_WIRING=1", " ".join(cmd[2:]), flush=True)
        subprocess.run(cmd, cwd=REPO_ROOT, env=env, check=False)
        cases = ET.parse(report).getroot().iter("testcase")
        caught, missed = [], []
        for case in cases:
            name = case.get("name", "")
            if name.split("[")[0] in NOT_SLIDER_TESTS:
                continue
            failure = case.find("failure")
            if failure is None:
                failure = case.find("error")
            if failure is not None:
                message = (failure.get("message") or "").strip().splitlines()
                caught.append(f"{name}: {message[0] if message else '(no message)'}")
            else:
                outcome = "skipped" if case.find("skipped") is not None else "passed"
                missed.append(f"{name}: {outcome}")
    print("\nslider tests that caught the cut wiring:")
    print("\n".join(f"  {line}" for line in caught) or "  none")
    if missed or not caught:
        print("slider tests that did NOT fail with the wiring cut:")
        print("\n".join(f"  {line}" for line in missed) or "  (no slider tests ran)")
        return 1
    print(f"check-wiring: all {len(caught)} slider tests failed with the observers removed, as they must")
    return 0


if __name__ == "__main__":
    sys.exit(main())
