"""Tests of analyzer.layout."""
