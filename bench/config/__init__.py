"""bench/config"""
