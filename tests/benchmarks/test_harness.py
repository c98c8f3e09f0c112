"""The harness's child processes (the simulator, each system's driver)."""

from __future__ import annotations

import sys

from benchmarks.harness import Child


def test_a_child_that_logs_more_than_a_pipe_holds_runs_to_its_end():
    # 200 KB on stderr before its line of stdout: into a pipe nobody reads, the write would block at 64 KB
    script = "import sys; sys.stderr.write('x' * 200_000 + 'last words'); print('done')"
    child = Child([sys.executable, "-c", script])
    try:
        assert child.proc.wait(timeout=30) == 0
        assert child.proc.stdout is not None and child.proc.stdout.read() == "done\n"
        assert child.stderr_tail(10) == "last words"
    finally:
        child.proc.kill()
        child.close()
