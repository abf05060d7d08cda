"""What the product remembers: SQLModel tables, database sessions and the encrypted file store."""
