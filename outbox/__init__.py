"""Mail goes out: reply templates, the queue every reply passes through, and sending over SMTP."""
