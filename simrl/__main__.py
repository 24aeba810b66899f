import sys

from simrl.cli import main

sys.exit(main())
