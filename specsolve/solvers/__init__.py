"""specsolve.solvers"""
