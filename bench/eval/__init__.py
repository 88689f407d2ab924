"""bench/eval"""
