"""Benchmarks of nativeffi (not tests): call speed, callbacks; see each module."""
