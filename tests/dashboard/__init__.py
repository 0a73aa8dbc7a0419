"""Tests of the dashboard without a browser, and the live data they share with the browser tests."""
