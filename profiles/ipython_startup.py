"""IPython start-up for an interactive simslab session (the bluesky habit).

``simslab shell --profile profiles/sim.yaml`` runs this file in IPython: it builds the
session of the profile named by $SIMSLAB_PROFILE and puts ``RE``, the devices (``stage``,
``furnace``, ``potentiostat``, ``sims``, ``sample_handler``), ``catalog``, ``plans``, ``bp``,
``bps`` and ``bpp`` in the namespace. ``await`` at the prompt runs on the devices' loop.
"""

import atexit
import os

from bluesky.run_engine import autoawait_in_bluesky_event_loop

from simslab.session import Session

session = Session.from_profile(os.environ["SIMSLAB_PROFILE"])
atexit.register(session.close)
globals().update(session.namespace())
try:
    autoawait_in_bluesky_event_loop()
except (AttributeError, RuntimeError):  # not inside IPython (e.g. run as a plain script)
    pass
print(f"simslab session '{session.profile.name}': RE, {', '.join(session.devices)}, catalog, plans")
