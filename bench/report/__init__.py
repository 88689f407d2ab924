"""bench/report"""
