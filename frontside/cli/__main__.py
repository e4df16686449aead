import sys

from frontside.cli import main

sys.exit(main())
