import sys

from searchengine.cli import main

sys.exit(main())
