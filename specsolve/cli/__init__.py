"""specsolve.cli"""
