"""``trackgw`` subcommands: one module each, exporting ``register(subparsers)``.

A command's handler is stored with ``parser.set_defaults(func=...)``; it takes the parsed
``argparse.Namespace`` and returns the process exit code (0 ok, 1 failure, 2 usage error).
"""

#: Modules under gateway/commands, in the order ``trackgw --help`` lists them.
COMMAND_MODULES = (
    "serve",
    "demo",
    "db",
    "devices",
    "accounts",
    "circles",
    "places",
    "decode",
    "geofence_replay",
    "entitlements_resolve",
    "subscriptions",
    "history",
    "retention",
    "device_commands",
)
