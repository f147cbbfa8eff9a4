"""Open and close a plan's run so that its stop document says why it ended.

``bpp.run_wrapper`` closes the run itself when an exception reaches it: on ``RE.abort(reason)``
without the reason, on a device failure with bluesky's FailedStatus text. :func:`run_wrapper`
closes the run only on success and otherwise lets the RunEngine close it, which records the
abort's reason, or the message of the error the plan raised (simslab plans raise the
device's own error: see :func:`~.safety.safe_on_failure`).
"""

from __future__ import annotations

from typing import Any

import bluesky.plan_stubs as bps
from bluesky.utils import MsgGenerator

__all__ = ["run_wrapper"]


def run_wrapper(plan: MsgGenerator[Any], md: dict[str, Any] | None = None) -> MsgGenerator[Any]:
    """Enclose ``plan`` in a run with metadata ``md``; return the plan's result."""
    yield from bps.open_run(md)
    result = yield from plan
    yield from bps.close_run()
    return result
