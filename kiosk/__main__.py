"""``python -m kiosk --config FILE``: the same as ``qms-kiosk``."""
import sys

from .cli import main

sys.exit(main())
