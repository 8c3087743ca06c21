"""One module per ``otel-agents`` subcommand, each with ``main(args, prog) -> int``."""
