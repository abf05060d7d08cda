"""Mail comes in: the IMAP mailbox, parsing, case matching, the intake pipeline, the daemon and the CLI."""
