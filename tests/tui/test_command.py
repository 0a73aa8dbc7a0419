"""``critpath tui``: its help, and which source its arguments choose."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time

import pytest

from critpath.cli import build_parser, main
from critpath.commands.tui import DEFAULT_URL, make_source
from critpath.exitcodes import ExitCode
from critpath.inputs import InputError
from tests.tui.test_sources import COMPOSE, DATA
from tui.sources import CollectorSource, FileSource


def parse(*argv: str):
    return build_parser().parse_args(["tui", *argv])


def test_help_explains_both_modes_and_the_keys(capsys):
    assert main(["tui", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--from URL" in text and DEFAULT_URL in text
    assert "trace files" in text and "? help" in text and "q quit" in text


def test_no_arguments_reads_the_local_collector():
    source = make_source(parse())
    assert isinstance(source, CollectorSource) and source.url == DEFAULT_URL


def test_from_url_reads_that_collector():
    source = make_source(parse("--from", "http://collector:9000/"))
    assert isinstance(source, CollectorSource) and source.url == "http://collector:9000"


def test_files_and_directories_are_read_offline():
    source = make_source(parse(str(COMPOSE[0]), str(DATA)))
    assert isinstance(source, FileSource)
    assert source.paths[0] == COMPOSE[0] and len(source.paths) > 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("a.json", "--from", "http://x"), "not both"),
        (("/no/such/file.json",), "no such file"),
        (("-",), "standard input"),
        (("--interval", "0"), "--interval"),
    ],
    ids=["files-and-url", "missing-file", "stdin", "zero-interval"],
)
def test_bad_arguments_are_refused_with_exit_code_2(argv, message, capsys):
    with pytest.raises(InputError, match=message):
        make_source(parse(*argv))
    assert main(["tui", *argv]) == ExitCode.BAD_INPUT
    assert message in capsys.readouterr().err


def test_the_command_runs_in_a_terminal_and_q_quits():
    """End to end: ``critpath tui FILE`` in a pseudo-terminal draws the endpoint, exits 0 on q."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: become the command
        os.environ.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
        os.execv(sys.executable, [sys.executable, "-m", "critpath", "tui", str(COMPOSE[0])])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    screen, status = b"", None
    deadline = time.monotonic() + 60
    try:
        while b"nginx-web-server" not in screen:
            assert time.monotonic() < deadline, screen.decode(errors="replace")[-2000:]
            if select.select([fd], [], [], 0.2)[0]:
                screen += os.read(fd, 65536)
        os.write(fd, b"q")
        while status is None:
            assert time.monotonic() < deadline, "critpath tui did not exit on q"
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                status = code
            elif select.select([fd], [], [], 0.2)[0]:
                with contextlib.suppress(OSError):  # the child may close the terminal first
                    os.read(fd, 65536)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        if status is None:  # a failed assertion above: do not leave the child behind
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
        os.close(fd)
