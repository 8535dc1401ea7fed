"""``python -m streamer`` is the ``streamer`` console script."""

from streamer.cli import main

raise SystemExit(main())
