"""Fixture process: the real perception node, whose model takes a minute to load.

Prints ``loading model`` on stderr when loading starts, so a test can signal the node while
it is inside ``PerceptionNode.__init__``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from mtl_perception.ros import perception_node

_real_load = perception_node.load_backend


def _slow_load(*args: Any, **kwargs: Any) -> Any:
    print("loading model", file=sys.stderr, flush=True)
    time.sleep(60.0)  # a TensorRT engine build can take this long
    return _real_load(*args, **kwargs)


perception_node.load_backend = _slow_load

if __name__ == "__main__":
    sys.exit(perception_node.main())
