"""``python -m launch ARGS`` behaves like ``facepaint ARGS``."""

import sys

from launch.main import main

sys.exit(main())
