"""``python -m lbcheck.notify.announce``: the stand-alone sender the lab and tests run."""

import sys

from lbcheck.notify.announce.bursts import main

sys.exit(main())
