"""The ``specsolve`` command line (``specsolve.cli.main:main``): parse, call :mod:`specsolve.api`, render.

One module per group of verbs, each with an ``add_parser(subparsers)``: :mod:`.train` (train, solve),
:mod:`.infer` (predict, evaluate, rollout), :mod:`.data` (generate, data inspect / convert / export-well),
:mod:`.plugins` (plugins list / info); :mod:`.render` holds the console, tables, progress bars and the wording of
errors in CLI terms; :mod:`.options` the options several verbs share and the forwarding of parsed options. Nothing here imports the library beyond :mod:`specsolve.api` and :mod:`specsolve.errors`.
"""
