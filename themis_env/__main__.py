"""``python -m themis_env`` runs the command line."""

import sys

from themis_env.cli import main

sys.exit(main())
