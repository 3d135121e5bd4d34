"""Shared pieces of the fuzz suites (tests/test_fuzz_*.py): hypothesis settings, a hang guard, hostile text.

The suites throw generated replies at the public reply readers. Nothing may raise, every call must end in
bounded time (a generous alarm, not a speed assertion: speed is measured in benchmarks/), and every verdict
that can be predicted is predicted by an evaluator written in the test itself.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections import Counter
from collections.abc import Iterator

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Seconds one call may take before the guard calls it a hang (a megabyte reply takes well under a second).
HANG_SECONDS = 20.0

#: Replies graded per suite, by test; each suite asserts its total at the end.
GRADED: Counter[str] = Counter()


def fuzz_settings(examples: int) -> settings:
    """Reproducible CI settings: the same examples on every run (derandomize), no example database, and no
    deadline (timing is the hang guard's job, not a flaky per-example limit)."""
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


class Hang(AssertionError):
    """A call did not return within :data:`HANG_SECONDS`."""


@contextlib.contextmanager
def hang_guard(what: str, seconds: float = HANG_SECONDS) -> Iterator[None]:
    """Fail (instead of hanging CI) when the body runs longer than ``seconds`` (POSIX main thread only;
    elsewhere the body just runs)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def alarm(signum, frame):
        raise Hang(f"{what} did not return within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def reply_preview(reply: str) -> str:
    return repr(reply[:200]) + (f"... ({len(reply)} characters)" if len(reply) > 200 else "")


# ---- hostile text ------------------------------------------------------------------------------------------

#: Digits and signs from other scripts and forms: superscripts, subscripts, circled, Arabic-Indic, fullwidth,
#: mathematical bold, Roman numerals, and look-alike minus and times signs that are not in the spec's list.
UNICODE_DIGITS = "\u00b2\u00b3\u00b9\u2070\u2074\u2080\u2083\u2460\u2469\u2473\u0660\u0663\u06f4\u0966\uff10\uff13" \
                 "\U0001d7ce\U0001d7d1\u2160\u216b\u3007\u4e09"
CONTROL = "\x00\x01\x07\x08\x0b\x0c\x0e\x1b\x7f\x85\u2028\u2029\u200b\u200d\ufeff"
SURROGATES = "\ud800\udbff\udc00\udfff"
#: Characters that make a formula illegal wherever they stand inside it (none is normalised by the reader).
ILLEGAL_INSIDE = "abxyzJQKAT^%.!,;:[]{}<>?&|~#@$_`" + UNICODE_DIGITS + CONTROL + SURROGATES + "\n\r"

hostile_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=300)
