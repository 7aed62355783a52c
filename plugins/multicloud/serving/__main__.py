"""``python -m multicloud.serving --artifact model.json ...``: run one model-server replica."""

import sys

from multicloud.serving.server import main

sys.exit(main())
