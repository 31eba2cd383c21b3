"""``python -m facepaint_launch ARGS`` behaves like ``facepaint ARGS``."""

import sys

from facepaint_launch.main import main

sys.exit(main())
