"""``python -m multicloud.serving serve --artifact <uri> --host 0.0.0.0 --port 8080``: one model server.

The container image's CMD (images/model-server/Dockerfile); see server.py for both start modes.
"""

import sys

from multicloud.serving.server import main

sys.exit(main())
