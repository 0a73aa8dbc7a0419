"""Widgets that draw the TUI's views; each renders what it is given and computes nothing."""
