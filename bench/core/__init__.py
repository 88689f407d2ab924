"""bench/core"""
