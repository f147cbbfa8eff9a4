"""Read a run in a separate process: ``python -m tests.catalog_server.read_run SETTINGS_JSON UID``.

Prints, as JSON, the run's content (simslab.run_content) and the sum of each image key's
counts, as the catalog serves them to a process that did not write the run.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from pydantic import TypeAdapter

from simslab.catalog import Catalog
from simslab.profile import CatalogSettings
from simslab.run_content import run_content


def main(settings_json: str, uid: str) -> None:
    catalog = Catalog.open(TypeAdapter(CatalogSettings).validate_json(settings_json))
    try:
        content = run_content(catalog.documents(uid))
        primary = catalog.run(uid)["primary"]
        image_sums = {key: int(np.asarray(primary[key].read(), dtype=np.int64).sum())
                      for key in content["stream_resources"]}
    finally:
        catalog.close()
    sys.stdout.write(json.dumps({"content": content, "image_sums": image_sums}))


if __name__ == "__main__":
    main(*sys.argv[1:])
