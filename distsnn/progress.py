"""Progress reports of a running simulation (rank 0 only, at epoch boundaries).

The engine calls :meth:`Progress.update` after every epoch; a report goes out at the
start (fraction 0), then at most once per ``period`` seconds of wall time, and at the
end (fraction 1), as Brian2's ``run(..., report=...)`` does. A report is either

- ``"text"`` (or ``"stdout"``) / ``"stderr"``: a line on stdout / stderr with the
  percentage, the model time reached, the wall time, the real-time factor (wall time /
  model time: 1 means as fast as biology, 10 ten times slower) and the estimated time
  left (from the average pace so far). On a terminal
  the line is rewritten in place with ``\\r``; when the stream is not a terminal (a log
  file, a pipe, a batch job) every report is a plain line of its own;
- a callable ``report(elapsed, completed, t_start, duration)``: wall seconds since the
  start of this run, the completed fraction in [0, 1], the model time at the start (ms)
  and the duration of this run (ms), as Brian2 passes them (there in seconds).

Only rank 0 reports; the other ranks get a reporter that does nothing, so reports
never add communication: every rank knows the completed fraction from its own step
count because all ranks advance in lockstep.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Callable, TextIO, Union

#: What ``report`` may be.
Report = Union[None, str, Callable[[float, float, float, float], object]]

#: Default minimum wall time between two reports, in seconds.
DEFAULT_PERIOD = 1.0


def check(report: Report, period: float) -> None:
    """Raise ``ValueError`` for a ``report`` or ``report_period`` that cannot be used."""
    if not (report is None or report in ("text", "stdout", "stderr") or callable(report)):
        raise ValueError(f"Simulation.run: report must be None, 'text', 'stdout', 'stderr' or a callable "
                         f"report(elapsed, completed, t_start, duration), got {report!r}")
    if isinstance(period, bool) or not isinstance(period, (int, float)) or not (
            math.isfinite(period) and period >= 0):
        raise ValueError(f"Simulation.run: report_period must be a finite number >= 0 s, got {period!r}")


def _clock(seconds: float) -> str:
    """``42.3 s``, ``12 min 05 s`` or ``3 h 07 min``."""
    if not math.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def format_line(elapsed: float, completed: float, t_start: float, duration: float) -> str:
    """One report: percentage, model time, wall time, real-time factor, time left.

    Parameters
    ----------
    elapsed : float
        Wall time since the start of the run, s.
    completed : float
        Completed fraction of the run, in [0, 1].
    t_start, duration : float
        Model time at the start of the run and its duration, ms.
    """
    done_ms = completed * duration
    parts = [f"{100.0 * completed:5.1f}%", f"t = {t_start + done_ms:.1f} / {t_start + duration:.1f} ms",
             f"wall {_clock(elapsed)}"]
    if done_ms > 0:
        rtf = elapsed / (done_ms * 1e-3)
        parts.append(f"real-time factor {rtf:.0f}" if rtf >= 100 else f"real-time factor {rtf:.3g}")
        if completed < 1:
            parts.append(f"about {_clock(elapsed * (1 - completed) / completed)} left")
    return "  ".join(parts)


class Progress:
    """Reports the progress of one ``Simulation.run`` call.

    Parameters
    ----------
    report : None, "text", "stderr" or callable
        See the module docstring; ``None`` reports nothing.
    t_start, duration : float
        Model time at the start of the run and its duration, ms.
    period : float
        Minimum wall time between two reports (s); the first and last always go out.
    stream : file, optional
        Where ``"text"`` writes (default: ``sys.stdout`` at the time of the call).
    """

    def __init__(self, report: Report, t_start: float, duration: float, period: float = DEFAULT_PERIOD,
                 stream: TextIO | None = None) -> None:
        self.report = report
        self.t_start = float(t_start)
        self.duration = float(duration)
        self.period = float(period)
        if report == "stderr":
            stream = sys.stderr
        self.stream = stream if stream is not None else sys.stdout
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty())
        self.t0 = time.perf_counter()
        self.last = -math.inf
        self.open_line = False

    def _emit(self, completed: float) -> None:
        now = time.perf_counter()
        self.last = now
        elapsed = now - self.t0
        if callable(self.report):
            self.report(elapsed, completed, self.t_start, self.duration)
            return
        line = format_line(elapsed, completed, self.t_start, self.duration)
        if self.tty:
            # Pad so a shorter line fully covers the one it replaces.
            self.stream.write("\r" + line.ljust(79))
            self.open_line = completed < 1
            if not self.open_line:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def start(self) -> None:
        """The report at fraction 0."""
        if self.report is not None:
            self.t0 = time.perf_counter()
            self._emit(0.0)

    def update(self, completed: float) -> None:
        """After an epoch: report if ``period`` seconds passed since the last report."""
        if self.report is not None and completed < 1 and time.perf_counter() - self.last >= self.period:
            self._emit(completed)

    def finish(self) -> None:
        """The report at fraction 1."""
        if self.report is not None:
            self._emit(1.0)

    def close(self) -> None:
        """End a line left open on a terminal (a run that raised midway)."""
        if self.open_line:
            self.stream.write("\n")
            self.stream.flush()
            self.open_line = False


def reporter(report: Report, rank: int, t_start: float, duration: float,
             period: float = DEFAULT_PERIOD) -> Progress:
    """The reporter of this rank: ``report`` on rank 0, a silent one elsewhere."""
    check(report, period)
    return Progress(report if rank == 0 else None, t_start, duration, period)


__all__ = ["Progress", "Report", "reporter", "format_line", "check", "DEFAULT_PERIOD"]
