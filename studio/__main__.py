"""`python -m studio` is the same as the `studio` command (and `python -m studio --worker ...` is
a worker, as in the frozen app: see studio.entry)."""

from studio.entry import main

raise SystemExit(main())
