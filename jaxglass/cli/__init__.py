"""The ``jaxglass`` command line: a thin shell over the library.

:mod:`.main` holds the command table, the parser, exit statuses and error mapping; each other module
is one group of commands (a class per command with ``add_arguments(parser)`` and ``run(args)``, its
docstring the command's help), which parses, calls the library and prints.
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
