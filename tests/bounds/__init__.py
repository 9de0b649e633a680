"""Tests of the importance-weighted bounds."""
