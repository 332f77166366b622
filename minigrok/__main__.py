"""`python -m minigrok ...`: the same as the `minigrok` command."""
import sys

from .cli import main

sys.exit(main())
