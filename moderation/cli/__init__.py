"""The `moderation` command line: parse arguments, call the library, format, exit codes."""
