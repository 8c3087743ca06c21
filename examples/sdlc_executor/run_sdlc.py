"""Run the example executor as a script: ``python run_sdlc.py --issue 42``."""

import sys

from sdlc_executor.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
