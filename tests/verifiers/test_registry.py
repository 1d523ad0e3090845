"""The registry finds every verifier whichever verifier module was imported first."""

import subprocess
import sys

from tests.conftest import REPO


def test_importing_one_module_first_does_not_hide_the_others():
    code = (
        "from verifiers.code import extract_program\n"
        "import verifiers\n"
        "verifiers.get('math'); verifiers.get('logic'); verifiers.get('code')\n"
        "print(len(verifiers.names()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 3
