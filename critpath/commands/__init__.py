"""One module per subcommand. Each defines ``ORDER`` (its place in ``--help``),
``register(subparsers)`` which adds its parser and sets ``func`` (args -> exit code)."""
