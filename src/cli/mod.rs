//! Command-line interface: clap definitions, one file per subcommand.
