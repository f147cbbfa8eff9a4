"""A separate process that writes runs into the embedded catalog (used by the catalog tests).

Usage: python -m tests.simslab.run_writer DOCS_OUT [kill-at-event N]
Writes a count and a scan through Catalog.writer(); dumps the live documents to DOCS_OUT
(JSON lines). With ``kill-at-event N`` it SIGKILLs itself right after the scan's N-th event.
"""

from __future__ import annotations

import json
import os
import signal
import sys

import bluesky.plans as bp
from bluesky import RunEngine
from ophyd.sim import det, motor

from simslab.catalog import Catalog


def main() -> None:
    out = open(sys.argv[1], "w", encoding="utf-8")
    kill_at = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "kill-at-event" else None
    catalog = Catalog.open()
    engine = RunEngine({"operator": "test"})
    engine.subscribe(catalog.writer())

    def record(name: str, doc: dict) -> None:
        out.write(json.dumps([name, doc], default=repr) + "\n")
        out.flush()
        if kill_at is not None and name == "event" and doc["seq_num"] == kill_at and "motor" in doc["data"]:
            os.kill(os.getpid(), signal.SIGKILL)

    engine.subscribe(record)
    engine(bp.count([det], 3, md={"campaign_id": "c-test", "step": {"index": 0, "kind": "exchange"}}))
    engine(bp.scan([det], motor, -1, 1, 30, md={"campaign_id": "c-test", "step": {"index": 1, "kind": "anneal"}}))
    catalog.close()


if __name__ == "__main__":
    main()
