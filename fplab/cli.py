"""Command-line interface: ``fplab run | report | check | list``.

(``fplab demo`` is gone: it wrote files outside ``fplab.report`` and judged nothing; the
``em-law-ou-1d`` study is the same exact-vs-Euler–Maruyama check with a verdict.)

Exit status: 0 success, 1 a check/regression failed, 2 bad input (usage or spec errors).
Heavy modules are imported inside the commands so that ``fplab --help`` starts fast.
"""

from __future__ import annotations

import argparse
import re
import sys

from fplab import __version__

__all__ = ["main"]


def _plain(doc: str) -> str:
    """A docstring line as plain text: reST roles and literals lose their markup."""
    doc = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", doc)
    return doc.replace("``", "").replace("`", "")


def _cmd_list(args: argparse.Namespace) -> int:
    from fplab.catalogue import catalogue

    for section, names in catalogue().items():
        print(f"{section}:")
        width = max(len(name) for name, _ in names)  # descriptions aligned within a section
        for name, doc in names:
            print(f"  {name:<{width}}  {_plain(doc)}".rstrip())
    return 0


def _load_plugins(args: argparse.Namespace) -> None:
    """Installed plugins (entry points ``fplab.plugins``), then the ``--plugin`` modules."""
    from fplab.plugins import load_entry_points, load_plugins

    load_entry_points()
    load_plugins(args.plugin, source="--plugin")


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

    from fplab.study_cli import add_commands, add_plugin_option

    p_list = sub.add_parser(
        "list", help="show the SDEs, schemes, methods, samplers, metrics, grids and studies"
    )
    add_plugin_option(p_list)
    p_list.set_defaults(func=_cmd_list)

    add_commands(sub)  # run, report, check
    return parser


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``kill PID``), taken down the Ctrl-C path: workers stopped, results kept."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    import signal
    import threading

    from fplab.errors import ConfigError

    installed = threading.current_thread() is threading.main_thread()  # signal.signal needs it
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if installed else None
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
    except KeyboardInterrupt as exc:
        how = "terminated" if isinstance(exc, _Terminated) else "interrupted"
        print(f"fplab: {how}; finished results are kept and a re-run resumes", file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(exc, _Terminated) else signal.SIGINT)
    finally:
        if installed:  # previous is None when a non-Python handler was in place: the default
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


if __name__ == "__main__":
    raise SystemExit(main())
