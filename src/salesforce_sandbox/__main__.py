"""``python -m salesforce_sandbox`` runs the ``salesforce-sandbox`` command."""

import sys

from salesforce_sandbox.cli import main

sys.exit(main())
