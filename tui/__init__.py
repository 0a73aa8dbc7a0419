"""The on-call terminal UI (Textual)."""
