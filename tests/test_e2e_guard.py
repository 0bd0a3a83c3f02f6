"""The e2e guard (tests/e2e_guard.py) fails an unmarked test that starts a real program or
a server, and only such a test: a pytest session of its own runs small test files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent

CONFTEST = """
import socket

import pytest
from e2e_guard import (  # noqa: F401
    pytest_fixture_setup, pytest_make_collect_report, pytest_runtest_call, pytest_runtest_setup,
)

@pytest.fixture(scope="module")
def shared_server():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    yield server
    server.close()
"""

TESTS = """
import socket
import subprocess
import sys

import pytest

def bind():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))

def test_unmarked_server():
    bind()

@pytest.mark.e2e
def test_marked_server():
    bind()

def test_unmarked_server_hiding_the_error():
    try:
        bind()
    except Exception:
        pass

def test_unmarked_program():
    subprocess.run(["tap-calltrack", "--version"], check=False)

def test_unmarked_program_in_a_shell():
    subprocess.run("true || calltrack-sandbox --port 0", shell=True, check=False)

def test_unmarked_python_module():
    subprocess.run([sys.executable, "-m", "tap_calltrack.excel.target", "--version"])

def test_unmarked_throwaway_python():
    subprocess.run([sys.executable, "-c", "print(1)"], check=True)

def test_unmarked_unit():
    assert 1 + 1 == 2

@pytest.mark.e2e
def test_marked_user_of_the_shared_server(shared_server):
    pass

def test_unmarked_user_of_the_shared_server(shared_server):
    pass
"""

IMPORT_TIME_SERVER = """
import socket

SERVER = socket.socket()
SERVER.bind(("127.0.0.1", 0))

def test_unmarked_user_of_the_module_server():
    assert SERVER.getsockname()
"""

MARKED_MODULE = """
import socket

import pytest

pytestmark = pytest.mark.e2e

SERVER = socket.socket()
SERVER.bind(("127.0.0.1", 0))

def test_marked_by_its_module():
    assert SERVER.getsockname()
"""


def outcomes(tmp_path: Path) -> dict[str, str]:
    shutil.copy(HERE / "e2e_guard.py", tmp_path / "e2e_guard.py")
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    e2e: end to end\n")
    (tmp_path / "test_cases.py").write_text(TESTS)
    (tmp_path / "test_import_time.py").write_text(IMPORT_TIME_SERVER)
    (tmp_path / "test_marked_module.py").write_text(MARKED_MODULE)
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA",
                             "-q", str(tmp_path)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    found = {}
    for line in result.stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("PASSED", "FAILED", "ERROR") and "::" in rest:
            found[rest.split("::", 1)[1].split(" ")[0]] = word
    assert "not marked e2e" in result.stdout, result.stdout[-3000:]
    return found


def test_unmarked_tests_that_start_programs_or_servers_fail(tmp_path):
    found = outcomes(tmp_path)
    assert found == {
        "test_unmarked_server": "FAILED",
        "test_marked_server": "PASSED",
        "test_unmarked_server_hiding_the_error": "FAILED",
        "test_unmarked_program": "FAILED",
        "test_unmarked_program_in_a_shell": "FAILED",
        "test_unmarked_python_module": "FAILED",
        "test_unmarked_throwaway_python": "PASSED",
        "test_unmarked_unit": "PASSED",
        "test_marked_user_of_the_shared_server": "PASSED",
        "test_unmarked_user_of_the_shared_server": "ERROR",
        "test_unmarked_user_of_the_module_server": "ERROR",
        "test_marked_by_its_module": "PASSED",
    }
