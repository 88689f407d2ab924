"""bench/runs"""
