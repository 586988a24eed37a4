import sys

from specsolve.cli.main import main

sys.exit(main())
