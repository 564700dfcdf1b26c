"""How a live input that fails is retried: the one policy of `serapp listen` and the window.

A microphone that fails mid-run (unplugged, taken by another program, delivering nothing) is reopened every
:data:`RETRY_S` seconds until audio arrives again; while no input device is present at all, the window rescans
the devices every :data:`RESCAN_S` seconds. A file that fails mid-way is damaged: it is never retried.
"""

from __future__ import annotations

from dataclasses import dataclass

# One period for the CLI and the window (they used 2.0 s and 3.0 s): short enough that a re-plugged microphone
# is back within a breath, long enough that PortAudio's rescan (a fraction of a second) stays a small load.
RETRY_S = 2.0
RESCAN_S = 2.0  # a device plugged in shows up within this (issue 31 item 8: it took about 20 s)


@dataclass(frozen=True)
class RetryPolicy:
    """``retry_s``: seconds between attempts to reopen a failed input; ``rescan_s``: period of the device scan
    while none is present. Tests give a faster one."""

    retry_s: float = RETRY_S
    rescan_s: float = RESCAN_S

    @staticmethod
    def retries(is_file: bool) -> bool:
        """Whether a failed input is retried at all: a microphone yes, a file (damaged) no."""
        return not is_file

    def next_attempt(self, now: float) -> float:
        """When to try again after an attempt at ``now`` (monotonic seconds)."""
        return now + self.retry_s
