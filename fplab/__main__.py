"""``python -m fplab`` runs the command-line interface."""

from fplab.cli import main

raise SystemExit(main())
