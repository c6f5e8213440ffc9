import sys

from auroragpt.cli import main

sys.exit(main())
