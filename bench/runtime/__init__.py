"""bench/runtime"""
