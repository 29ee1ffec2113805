"""``python -m display.announcer`` is ``qms-announcer``."""
import sys

from .cli import main

sys.exit(main())
