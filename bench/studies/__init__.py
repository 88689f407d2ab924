"""bench/studies"""
