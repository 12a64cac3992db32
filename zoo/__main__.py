"""`python -m zoo ...`: thin entry point, the logic lives in `zoo.cli`."""

import sys

from zoo.cli import main

sys.exit(main())
