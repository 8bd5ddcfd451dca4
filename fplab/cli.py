"""Command-line interface: ``fplab run | report | check | list | demo``.

Exit status: 0 success, 1 a check/regression failed, 2 bad input (usage or spec errors).
Heavy modules are imported inside the commands so that ``fplab --help`` starts fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fplab import __version__

__all__ = ["main"]


def _cmd_list(args: argparse.Namespace) -> int:
    from fplab.catalogue import catalogue

    for section, names in catalogue().items():
        print(f"{section}:")
        width = max(24, *(len(name) for name, _ in names))
        for name, doc in names:
            print(f"  {name:<{width}} {doc}")
    return 0


def add_plugin_option(p: argparse.ArgumentParser) -> None:
    """``--plugin MODULE`` (repeatable): import a plugin module before the command runs."""
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import this plugin module first (repeatable); a plugin is code that runs",
    )


def _load_plugins(args: argparse.Namespace) -> None:
    """Installed plugins (entry points ``fplab.plugins``), then the ``--plugin`` modules."""
    from fplab.plugins import load_entry_points, load_plugins

    load_entry_points()
    load_plugins(args.plugin, source="--plugin")


def _cmd_demo(args: argparse.Namespace) -> int:
    from fplab.demo import run_demo

    run_demo(Path(args.out))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fplab",
        description=(
            "fplab: a verification laboratory for the numerics behind diffusion models. "
            "Run convergence studies, write comparison reports, and regression-check solver accuracy."
        ),
    )
    parser.add_argument("--version", action="version", version=f"fplab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p_list = sub.add_parser(
        "list", help="show the SDEs, schemes, methods, samplers, metrics, grids and studies"
    )
    add_plugin_option(p_list)
    p_list.set_defaults(func=_cmd_list)

    p_demo = sub.add_parser("demo", help="exact-vs-Monte-Carlo check on an OU bimodal mixture")
    p_demo.add_argument("--out", default="reports", help="output folder (default: reports)")
    p_demo.set_defaults(func=_cmd_demo)

    _add_study_commands(sub)
    return parser


def _add_study_commands(sub: Any) -> None:
    """``run``, ``report`` and ``check`` (fplab.study / fplab.runner / fplab.report)."""
    try:
        from fplab.study_cli import add_commands
    except ImportError:
        p_run = sub.add_parser("run", help="run the default demo (study runner not installed)")
        p_run.add_argument("--out", default="reports")
        p_run.set_defaults(func=_cmd_demo)
        return
    add_commands(sub)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from fplab.errors import ConfigError

    try:
        if hasattr(args, "plugin"):
            _load_plugins(args)
        return int(args.func(args))
    except ConfigError as err:
        print(f"fplab: error: {err}", file=sys.stderr)
        return 2
    except ImportError as err:
        if "fplab[" not in str(err):  # only a missing extra is bad input; anything else is a bug
            raise
        print(f"fplab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fplab: interrupted; finished results are kept and a re-run resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
