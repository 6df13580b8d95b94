"""ComfyUI's progress bar and interrupt as the core's ``progress`` and ``cancel`` callbacks, with a time
estimate for long runs."""

from __future__ import annotations

import contextlib
import logging
import time

from ..styleganex import Cancelled
from .compat import Interrupted, ProgressBar, interrupted, send_node_text, throw_if_interrupted


# ---- progress and cancel ---------------------------------------------------------------------------
class Progress:
    """ComfyUI's progress bar as the core's ``progress(done, total, info)`` and ``cancel()``.

    With ``estimate`` (the node's name), the time the whole run will take is measured on the first steps
    and shown on the node (and in ComfyUI's log), then the time left every tenth of the run.
    """

    ESTIMATE_AFTER_STEPS = 3  # steps timed after the first (which includes warm-up)
    ESTIMATE_AFTER_S = 5.0  # or this long after the first step, whichever comes first

    def __init__(self, total: int, estimate: str | None = None, device: str = ""):
        self.total = max(1, int(total or 1))
        self.bar = ProgressBar(self.total)
        self.label, self.device = estimate, device
        self._first: tuple[int, float] | None = None
        self._estimated = False
        self._next_report = 0

    def __call__(self, done, total=None, info=None) -> None:
        if total:
            self.total = int(total)
        self.bar.update_absolute(min(int(done), self.total), self.total)
        if self.label:
            self._estimate(int(done))

    def _estimate(self, done: int) -> None:
        now = time.monotonic()
        if self._first is None:
            self._first = (done, now)
            return
        first_done, first_t = self._first
        timed = done - first_done
        if timed <= 0 or done >= self.total and not self._estimated:
            return
        per_step = (now - first_t) / timed
        left = per_step * (self.total - done)
        if not self._estimated:
            if timed < self.ESTIMATE_AFTER_STEPS and now - first_t < self.ESTIMATE_AFTER_S:
                return
            self._estimated = True
            self._next_report = done + max(1, self.total // 10)
            text = (f"{self.label}: about {format_duration(per_step * self.total)} for {self.total} steps"
                    f"{' on ' + self.device if self.device else ''} ({per_step:.2f} s a step); "
                    f"{format_duration(left)} left")
        elif done >= self._next_report and done < self.total:
            self._next_report = done + max(1, self.total // 10)
            text = f"{self.label}: step {done}/{self.total}, {format_duration(left)} left"
        else:
            return
        logging.info(text)
        send_node_text(text)

    def step(self, done: int) -> None:
        """For the nodes' own loops: report and stop here if the user cancelled."""
        throw_if_interrupted()
        self(done)

    @staticmethod
    def cancel() -> bool:
        return interrupted()


def format_duration(seconds: float) -> str:
    """'45 s', '12 min', '2 h 40 min'."""
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


@contextlib.contextmanager
def cancellable():
    """Turn the core's ``Cancelled`` into ComfyUI's interrupt (so the queue shows 'interrupted')."""
    try:
        yield
    except Cancelled:
        throw_if_interrupted()
        raise Interrupted()
    throw_if_interrupted()


