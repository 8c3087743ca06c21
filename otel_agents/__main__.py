import sys

from otel_agents.cli import main

sys.exit(main())
