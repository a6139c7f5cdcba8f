"""Starting a child as a shell starts a foreground job, for tests that send it Ctrl-C."""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """``preexec_fn`` of such a child: SIGINT back to its default action.

    A child inherits an ignored SIGINT, and Python then leaves it ignored. A pytest-xdist
    worker runs with SIGINT ignored (the controller takes Ctrl-C), so without this the test's
    SIGINT would never reach the child. A shell gives its foreground job the default action,
    which Python turns into ``KeyboardInterrupt``.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
