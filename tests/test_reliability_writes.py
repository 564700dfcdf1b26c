"""Nothing the user made is lost: the engine and the commands write no file in place (they print; front ends
and the trainer write through temp file + rename). A new direct writer there must go through an atomic helper.

Round 2 (issue 32), generated: names of any script up to the file system's limit (the temp name fits too),
read-only folders, targets that are pipes, folders, sockets, devices or links; and standard output that is a
closed pipe, /dev/full, or a file on a disk that fills up at any point (no half result is left)."""

from __future__ import annotations

import ast
import json
import os
import resource
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import serapp
from serapp import atomic, output
from serapp.errors import SerappError

PACKAGE = Path(serapp.__file__).parent
# Calls that create or overwrite a file in place.
WRITERS = {"write_text", "write_bytes", "save", "savez", "savez_compressed", "savefig", "to_csv", "dump"}


def direct_writes(source: str) -> list[str]:
    """Calls in ``source`` that write a file in place: the names above, ``sf.write``, ``open(..., "w"/"a"/"x")``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
        mode = next((a.value for a in [*node.args[1:2], *(k.value for k in node.keywords if k.arg == "mode")]
                     if isinstance(a, ast.Constant) and isinstance(a.value, str)), "r")
        if name in WRITERS or (name == "write" and owner == "sf") or (name == "open" and set(mode) & set("wax")):
            found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_the_detector_sees_direct_writes() -> None:
    sample = 'Path(p).write_text("x")\nopen(p, "w")\nsf.write(p, y, 16000)\nopen(p)\nprint("w")\n'
    assert [f.split(":")[0] for f in direct_writes(sample)] == ["line 1", "line 2", "line 3"]


def test_engine_and_commands_write_no_file_in_place() -> None:
    files = [*sorted((PACKAGE / "engine").glob("*.py")), PACKAGE / "commands.py", PACKAGE / "cli.py"]
    offenders = {f.name: w for f in files if (w := direct_writes(f.read_text()))}
    assert not offenders, f"write through an atomic helper (temp file + rename) instead: {offenders}"


# ------------------------------------------------------------------------------------------- round 2 (issue 32)
HYPOTHESIS = settings(max_examples=150, deadline=None, derandomize=True,
                      suppress_health_check=[HealthCheck.function_scoped_fixture])
NAME_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0")


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


@HYPOTHESIS
@given(name=st.text(NAME_CHARS, min_size=1, max_size=255).filter(lambda n: n not in (".", "..")),
       suffix=st.sampled_from(["", ".csv", ".json", ".png", ".keras", ".x" * 20]))
def test_any_name_that_fits_the_file_system_is_written_and_leaves_no_temp_file(tmp_path: Path, name: str,
                                                                             suffix: str) -> None:
    """Generated names up to the 255-byte limit (any script, any suffix): a name that fits is written (its temp
    name is shortened to fit too); one that does not is a plain SerappError. Nothing else is left behind."""
    folder = tmp_path / "out"
    folder.mkdir(exist_ok=True)
    target = folder / (name + suffix)
    fits = len(os.fsencode(target.name)) <= 255
    try:
        atomic.write_text(target, "done")
    except SerappError as exc:
        assert not fits, exc
        assert "Cannot write" in str(exc) and "\n" not in str(exc)
    else:
        assert fits and target.read_text() == "done"
    assert _leftovers(folder, {target.name}) == []
    for p in folder.iterdir():
        p.unlink()


@given(name=st.text(NAME_CHARS, min_size=1, max_size=300), suffix=st.text(NAME_CHARS, max_size=30),
       name_max=st.integers(40, 255))
@settings(max_examples=300, deadline=None, derandomize=True)
def test_temp_names_always_fit_and_keep_a_short_suffix(name: str, suffix: str, name_max: int) -> None:
    target = Path("/x") / (name + ("." + suffix if suffix else ""))
    temp = atomic.temp_name(target, "0123456789ab", name_max)
    assert len(os.fsencode(temp)) <= name_max and temp.startswith(".") and "0123456789ab.tmp" in temp
    if len(os.fsencode(target.suffix)) <= 16:
        assert temp.endswith(f".tmp{target.suffix}")


def test_a_255_character_export_name_is_written(tmp_path: Path) -> None:
    """The issue's case: names of 237-255 characters could never be exported (the temp name added 19)."""
    for length in (237, 246, 255):
        target = tmp_path / ("e" * (length - 4) + ".csv")
        atomic.write_text(target, "x")
        assert target.read_text() == "x"
    assert len(list(tmp_path.iterdir())) == 3


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` made unwritable: chmod for a user, the immutable attribute for root (which ignores modes)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)],
                                                        capture_output=True).returncode != 0:
        pytest.skip("running as root where the immutable attribute cannot be set: no way to make a folder read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


@pytest.mark.parametrize("writer", ["write_text", "write_bytes", "replacing"])
def test_a_read_only_folder_is_a_plain_error_and_the_old_file_stays(tmp_path: Path, writer: str) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    target = folder / "summary.csv"
    target.write_text("before")
    with read_only(folder), pytest.raises(SerappError, match="Cannot write") as exc:
        if writer == "write_text":
            atomic.write_text(target, "after")
        elif writer == "write_bytes":
            atomic.write_bytes(target, b"after")
        else:
            with atomic.replacing(target) as tmp:
                tmp.write_text("after")
    assert "\n" not in str(exc.value) and str(target) in str(exc.value)
    assert target.read_text() == "before" and _leftovers(folder, {"summary.csv"}) == []


def _special_targets(folder: Path) -> dict[str, Path]:
    """Existing paths an export must not replace: a named pipe, a folder, a socket and (where allowed) a
    character device node of our own, so a failing test cannot replace a real /dev entry."""
    fifo = folder / "pipe.csv"
    os.mkfifo(fifo)
    sub = folder / "folder.csv"
    sub.mkdir()
    sock_path = folder / "sock.csv"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(sock_path))
    sock.close()
    targets = {"named pipe": fifo, "folder": sub, "socket": sock_path}
    device = folder / "null.csv"
    try:
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))
        targets["device"] = device
    except (OSError, AttributeError):  # no CAP_MKNOD: /dev/full is checked below without writing to it
        pass
    return targets


def test_non_regular_targets_are_refused_and_left_as_they_are(tmp_path: Path) -> None:
    for what, target in _special_targets(tmp_path).items():
        mode = os.lstat(target).st_mode
        with pytest.raises(SerappError, match=f"it is a {what}, not a regular file"):
            atomic.write_text(target, "x")
        assert os.lstat(target).st_mode == mode, what
    with pytest.raises(SerappError, match="it is a device"):
        atomic.check_target(Path("/dev/full"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["pipe.csv", "folder.csv", "sock.csv"]
                                                                 + (["null.csv"] if (tmp_path / "null.csv").exists()
                                                                    else []))


def test_a_symlink_is_refused_unless_the_caller_follows_it_deliberately(tmp_path: Path) -> None:
    real = tmp_path / "real.csv"
    real.write_text("before")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    with pytest.raises(SerappError, match="symbolic link"):
        atomic.write_text(link, "after")
    assert link.is_symlink() and real.read_text() == "before"
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "nowhere.csv")
    with pytest.raises(SerappError, match="symbolic link"):
        atomic.write_text(dangling, "after")
    assert not (tmp_path / "nowhere.csv").exists()
    # Deliberately: the file the link points to is replaced, the link stays a link.
    atomic.write_text(link, "after", follow_symlinks=True)
    assert link.is_symlink() and real.read_text() == "after"
    link_to_pipe = tmp_path / "to-pipe.csv"
    os.mkfifo(tmp_path / "pipe")
    link_to_pipe.symlink_to(tmp_path / "pipe")
    with pytest.raises(SerappError, match="named pipe"):
        atomic.write_text(link_to_pipe, "x", follow_symlinks=True)


# ------------------------------------------------------------------------------------------- standard output
def _serapp(args: list[str], *, stdout: int | object = subprocess.PIPE, file_limit: int | None = None,
            close_early: bool = False, timeout: float = 120) -> tuple[int, str, bytes]:
    """Run `python -m serapp ARGS`; (exit status, stderr, what reached stdout). ``close_early`` closes the read
    end of the pipe before the command writes (`| true`); ``file_limit`` caps file sizes (a full disk)."""
    def limit() -> None:
        if file_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    proc = subprocess.Popen([sys.executable, "-m", "serapp", *args], stdout=stdout, stderr=subprocess.PIPE,
                            preexec_fn=limit)
    out = b""
    if close_early and proc.stdout is not None:
        proc.stdout.close()
    elif proc.stdout is not None:
        out = proc.stdout.read()
    err = proc.stderr.read().decode() if proc.stderr else ""
    return proc.wait(timeout), err, out


@pytest.fixture(scope="module")
def clips(sample_clips: list[Path]) -> list[str]:
    return [str(p) for p in sample_clips[:8]]


@pytest.mark.parametrize("fmt", [[], ["--json"], ["--csv"]])
def test_analyze_into_a_closed_pipe_exits_quietly(onnx_model_path: Path, clips: list[str], fmt: list[str]) -> None:
    code, err, _ = _serapp(["analyze", *fmt, "--model", str(onnx_model_path), *clips], close_early=True)
    assert code == 141 and err == "", err


def test_listen_into_head_exits_quietly_after_the_lines_it_wanted(onnx_model_path: Path, clips: list[str]) -> None:
    listen = subprocess.Popen([sys.executable, "-m", "serapp", "listen", "--model", str(onnx_model_path), "--input",
                               clips[0]], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert listen.stdout is not None and listen.stderr is not None
    head = [listen.stdout.readline() for _ in range(2)]  # `| head -2`
    listen.stdout.close()
    assert listen.wait(60) == 141 and listen.stderr.read() == b""
    assert all(line.strip() for line in head)


@pytest.mark.parametrize("fmt", [["--json"], ["--csv"], []])
def test_analyze_into_dev_full_is_one_plain_line(onnx_model_path: Path, clips: list[str], fmt: list[str]) -> None:
    with open("/dev/full", "wb") as full:
        code, err, _ = _serapp(["analyze", *fmt, "--model", str(onnx_model_path), *clips], stdout=full)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("serapp: cannot write") and "No space left on device" in err, err


@pytest.mark.parametrize("limit", [1, 4096, 8192, 20000])
@pytest.mark.parametrize("fmt", ["--json", "--csv"])
def test_a_full_disk_leaves_no_half_result(tmp_path: Path, onnx_model_path: Path, clips: list[str], fmt: str,
                                          limit: int) -> None:
    """Generated over where the disk fills up: the result file is left empty, never cut part-way."""
    out_path = tmp_path / "result.out"
    with open(out_path, "wb") as out:
        code, err, _ = _serapp(["analyze", fmt, "--hop", "0.1", "--model", str(onnx_model_path), *clips],
                               stdout=out, file_limit=limit)
    assert code == 2 and "nothing was kept" in err and "Traceback" not in err, err
    assert out_path.stat().st_size == 0


def test_a_full_result_when_the_disk_has_room(tmp_path: Path, onnx_model_path: Path, clips: list[str]) -> None:
    out_path = tmp_path / "result.json"
    with open(out_path, "wb") as out:
        code, err, _ = _serapp(["analyze", "--json", "--model", str(onnx_model_path), *clips], stdout=out,
                               file_limit=10**7)
    assert code == 0 and err == ""
    assert len(json.loads(out_path.read_text())) == len(clips)


@pytest.mark.parametrize("start", [0, 5])
def test_write_stdout_cuts_a_partial_result_back(tmp_path: Path, start: int) -> None:
    """In a child process with a file-size limit: what was there before stays, the failed result goes."""
    code = (f"import sys; from serapp.output import write_stdout; sys.stdout.write('x' * {start}); "
            "write_stdout('y' * 100000)")
    out_path = tmp_path / "out.txt"
    with open(out_path, "wb") as out:
        proc = subprocess.run([sys.executable, "-c", code], stdout=out, stderr=subprocess.PIPE, timeout=60,
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (50000, 50000)))
    assert proc.returncode == 1 and b"nothing was kept" in proc.stderr
    assert out_path.read_bytes() == b"x" * start


@given(value=st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
                          lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(), kids, max_size=4),
                          max_leaves=20))
@settings(max_examples=200, deadline=None, derandomize=True)
def test_json_text_is_always_strict_json(value: object) -> None:
    text = output.json_text(value)

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in {text}")

    json.loads(text, parse_constant=refuse)
