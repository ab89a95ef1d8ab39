"""`python -m bench.capacity`: the capacity bench alone (also `python -m bench capacity`)."""

import sys

from bench.capacity import main

sys.exit(main())
