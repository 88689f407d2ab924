"""Evaluation: per-image MSE and Lap1, sample quality, the evaluation journal, the paper's figures."""
